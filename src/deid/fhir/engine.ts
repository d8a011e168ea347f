import { crawlTypedValue, toTypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { ChangeLog } from '../change-log';
import { addDays } from '../dates';
import type { Pseudonymizer } from '../pseudonym';
import type { DeidProfile, FhirMethod } from '../profile/profile';
import type { TextDeidentifier } from '../text/engine';
import { conformResource } from './conform';

export interface FhirDeidDeps {
  pseudonyms: Pseudonymizer;
  text: TextDeidentifier;
}

/** Whose dates move together: the patient the resource is, or is about. */
function patientKey(r: Resource): string {
  if (r.resourceType === 'Patient') return `Patient/${r.id ?? ''}`;
  const rec = r as { subject?: { reference?: string }; patient?: { reference?: string } };
  return rec.subject?.reference ?? rec.patient?.reference ?? `${r.resourceType}/${r.id ?? ''}`;
}

/**
 * De-identifies a copy of one resource by its profile's rules, walking it with the R4 type
 * information (@medplum/core's crawler), and returns the copy and what was done (never values).
 */
export async function deidentifyResource(
  input: Resource,
  profile: DeidProfile,
  deps: FhirDeidDeps,
  log: ChangeLog = new ChangeLog(),
): Promise<Resource> {
  const resource = structuredClone(input);
  const shift = deps.pseudonyms.dateShiftDays(patientKey(input));
  const edits: (() => Promise<void>)[] = [];
  const note = (path: string, method: string): void => {
    log.note(path, method);
  };
  crawlTypedValue(toTypedValue(resource), {
    visitProperty: (parent, key, path, propertyValues) => {
      for (const v of propertyValues.flat()) {
        if (v.value === undefined) continue;
        // Choice elements are selected by their FHIRPath name (Observation.value), not value[x].
        const at = path.replace('[x]', '');
        const rule = profile.fhir.rules.find((r) => r.matches(at, v.type));
        if (!rule || rule.method === 'keep') continue;
        const holder = parent.value as Record<string, unknown>;
        const prop = key.endsWith('[x]')
          ? key.replace('[x]', v.type.charAt(0).toUpperCase() + v.type.slice(1))
          : key;
        note(at, rule.method);
        const value: unknown = v.value;
        edits.push(() => apply(rule.method, v.type, holder, prop, value, shift, deps, profile));
      }
    },
  });
  for (const edit of edits) await edit();
  conformResource(resource as unknown as Record<string, unknown>, (path) => {
    note(path, 'mask');
  });
  resource.id = pseudoId(resource.resourceType, input.id, deps.pseudonyms);
  note(`${resource.resourceType}.id`, 'pseudonymize');
  return resource;
}

/** A resource id as a pseudonym of the same type and id: references can be rewritten to match. */
function pseudoId(type: string, id: string | undefined, p: Pseudonymizer): string {
  return p.token('resource', `${type}/${id ?? ''}`).toLowerCase();
}

async function apply(
  method: FhirMethod,
  type: string,
  holder: Record<string, unknown>,
  prop: string,
  value: unknown,
  shift: number,
  deps: FhirDeidDeps,
  profile: DeidProfile,
): Promise<void> {
  const clean = async (text: string): Promise<string> =>
    (
      await deps.text.deidentify(text, {
        replacement: profile.text.replacement,
        ...(profile.fhir.shiftTextDates && { dateShiftDays: shift }),
      })
    ).text;
  const current = holder[prop];
  // A method with nothing to keep of a value (undefined) drops it, as remove would.
  const each = (f: (v: unknown) => unknown): void => {
    const next = Array.isArray(current)
      ? (current as unknown[]).map((x) => (x === value ? f(x) : x)).filter((x) => x !== undefined)
      : f(current);
    if (next === undefined || (Array.isArray(next) && next.length === 0))
      Reflect.deleteProperty(holder, prop);
    else holder[prop] = next;
  };
  switch (method) {
    case 'remove':
      if (Array.isArray(current)) {
        const kept = current.filter((x) => x !== value);
        if (kept.length > 0) holder[prop] = kept;
        else Reflect.deleteProperty(holder, prop);
      } else Reflect.deleteProperty(holder, prop);
      return;
    case 'cryptoHash':
      each((v) => cryptoHash(type, v, deps.pseudonyms));
      return;
    case 'generalize':
      each((v) => generalize(type, v));
      return;
    case 'redact':
      each((v) => redact(type, v));
      return;
    case 'dateShift':
      each((v) => (typeof v === 'string' ? shiftFhirDate(v, shift) : v));
      return;
    case 'cleanText': {
      const n = value as { div?: string };
      const cleaned =
        typeof value === 'string' ? await clean(value) : { ...n, div: await clean(n.div ?? '') };
      each(() => cleaned);
      return;
    }
    default:
      return;
  }
}

/** Moves a date, dateTime or instant by whole days, keeping its precision and time part. */
function shiftFhirDate(value: string, days: number): string {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(.*)$/.exec(value);
  if (!m) return value;
  if (!m[3]) return value.slice(0, 4); // a year or a month cannot move by days: keep the year
  const d = addDays(Number(m[1]), Number(m[2]), Number(m[3]), days);
  return d ? `${d.toISOString().slice(0, 10)}${m[4] ?? ''}` : value.slice(0, 4);
}

/** Keyed hashes: an identifier's value, a reference's target id (so references still resolve), a string. */
function cryptoHash(type: string, v: unknown, p: Pseudonymizer): unknown {
  if (type === 'Identifier') {
    const id = v as { system?: string; value?: string };
    return {
      ...(id.system && { system: id.system }),
      ...(id.value && { value: p.token(id.system ?? 'id', id.value) }),
    };
  }
  if (type === 'Reference') {
    const ref = v as { reference?: string; type?: string };
    // A version-specific reference loses its version: the copy's versions are not the source's.
    const m = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9.-]{1,64})(?:\/_history\/[A-Za-z0-9.-]{1,64})?$/.exec(
      ref.reference ?? '',
    );
    // A display can hold a name; a contained or urn: reference carries no id to protect.
    if (!m)
      return { ...(ref.reference && { reference: ref.reference }), ...(ref.type && { type: ref.type }) };
    return { reference: `${m[1] ?? ''}/${pseudoId(m[1] ?? '', m[2], p)}` };
  }
  return typeof v === 'string' ? p.token(type, v) : undefined;
}

/**
 * Safe Harbor generalisation: dates to their year, addresses to state and country. An instant
 * must be complete, so it cannot keep only its year: it goes (a required one is then masked).
 */
function generalize(type: string, v: unknown): unknown {
  if (type === 'instant') return undefined;
  if (typeof v === 'string') return v.slice(0, 4);
  if (type === 'Address') {
    const a = v as { use?: string; type?: string; state?: string; country?: string };
    return {
      ...(a.use && { use: a.use }),
      ...(a.type && { type: a.type }),
      ...(a.state && { state: a.state }),
      ...(a.country && { country: a.country }),
    };
  }
  return undefined;
}

/**
 * Microsoft's redact with its partial options: the value goes, except what Safe Harbor lets
 * stay: a date's year (not an instant's, which must be complete), and of an address its state,
 * country and the first three digits of the ZIP code.
 */
function redact(type: string, v: unknown): unknown {
  if (typeof v === 'string' && /^(date|dateTime)$/.test(type)) return v.slice(0, 4);
  if (type === 'Address') {
    const a = v as { state?: string; country?: string; postalCode?: string };
    const zip3 = /^\d{5}/.test(a.postalCode ?? '') ? `${(a.postalCode ?? '').slice(0, 3)}**` : undefined;
    return {
      ...(a.state && { state: a.state }),
      ...(a.country && { country: a.country }),
      ...(zip3 && { postalCode: zip3 }),
    };
  }
  return undefined;
}
