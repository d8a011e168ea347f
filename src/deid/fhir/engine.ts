import { crawlTypedValue, toTypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { ChangeLog } from '../change-log';
import { addDays } from '../dates';
import type { Pseudonymizer } from '../pseudonym';
import type { TextDeidentifier } from '../text/engine';

export type FhirMethod =
  | 'remove'
  | 'pseudonymize'
  | 'pseudonymizeReference'
  | 'generalizeAddress'
  | 'generalizeDate'
  | 'dateShift'
  | 'cleanText'
  | 'keep';

/** A rule picks elements by FHIR type or by path (a regular expression over the element path). */
export interface FhirRule {
  type?: readonly string[];
  path?: RegExp;
  method: FhirMethod;
}

export interface FhirDeidProfile {
  name: string;
  version: string;
  rules: readonly FhirRule[];
  /** Dates inside free text are shifted like the structured ones (otherwise they become tags). */
  shiftTextDates?: boolean;
}

const DATE_TYPES = ['date', 'dateTime', 'instant'] as const;
/** Free-text elements, run through the text engine rather than removed. */
const FREE_TEXT =
  /\.(text|valueString|description|comment|conclusion|summary|note|reason|patientInstruction)$/;

const SAFE_HARBOR: FhirRule[] = [
  { type: ['Meta'], method: 'remove' },
  { type: ['Narrative'], method: 'remove' },
  { type: ['HumanName', 'ContactPoint', 'Attachment'], method: 'remove' },
  { type: ['Address'], method: 'generalizeAddress' },
  { type: ['Identifier'], method: 'pseudonymize' },
  { type: ['Reference'], method: 'pseudonymizeReference' },
  { type: ['string', 'markdown'], path: FREE_TEXT, method: 'cleanText' },
];

/**
 * Shipped FHIR profiles, named like the DICOM and text ones. Rules are data, first match wins;
 * resource ids are always pseudonymised, so references stay consistent across a Bundle or a
 * patient's compartment.
 */
export const FHIR_PROFILES: Readonly<Record<string, FhirDeidProfile>> = {
  basic: {
    name: 'basic',
    version: '1',
    rules: [...SAFE_HARBOR, { type: DATE_TYPES, method: 'generalizeDate' }],
  },
  'research-longitudinal': {
    name: 'research-longitudinal',
    version: '1',
    rules: [...SAFE_HARBOR, { type: DATE_TYPES, method: 'dateShift' }],
    shiftTextDates: true,
  },
  'keep-descriptions': {
    name: 'keep-descriptions',
    version: '1',
    rules: [
      ...SAFE_HARBOR.filter((r) => !r.type?.includes('Narrative')),
      { type: ['Narrative'], method: 'cleanText' },
      { type: DATE_TYPES, method: 'generalizeDate' },
    ],
  },
};

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
export function deidentifyResource(
  input: Resource,
  profile: FhirDeidProfile,
  deps: FhirDeidDeps,
  log: ChangeLog = new ChangeLog(),
): Resource {
  const resource = structuredClone(input);
  const shift = deps.pseudonyms.dateShiftDays(patientKey(input));
  const edits: (() => void)[] = [];
  const note = (path: string, method: string): void => {
    log.note(path, method);
  };
  crawlTypedValue(toTypedValue(resource), {
    visitProperty: (parent, key, path, propertyValues) => {
      for (const v of propertyValues.flat()) {
        if (v.value === undefined) continue;
        const rule = profile.rules.find(
          (r) => (!r.type || r.type.includes(v.type)) && (!r.path || r.path.test(path)),
        );
        if (!rule || rule.method === 'keep') continue;
        const holder = parent.value as Record<string, unknown>;
        const prop = key.endsWith('[x]')
          ? key.replace('[x]', v.type.charAt(0).toUpperCase() + v.type.slice(1))
          : key;
        note(path.replace(/\[\d+\]/g, ''), rule.method);
        const value: unknown = v.value;
        edits.push(() => {
          apply(rule.method, holder, prop, value, shift, deps, profile.shiftTextDates === true);
        });
      }
    },
  });
  for (const edit of edits) edit();
  resource.id = pseudoId(resource.resourceType, input.id, deps.pseudonyms);
  note(`${resource.resourceType}.id`, 'pseudonymize');
  return resource;
}

/** A resource id as a pseudonym of the same type and id: references can be rewritten to match. */
function pseudoId(type: string, id: string | undefined, p: Pseudonymizer): string {
  return p.token('resource', `${type}/${id ?? ''}`).toLowerCase();
}

function apply(
  method: FhirMethod,
  holder: Record<string, unknown>,
  prop: string,
  value: unknown,
  shift: number,
  deps: FhirDeidDeps,
  shiftTextDates: boolean,
): void {
  const clean = (text: string): string =>
    deps.text.deidentify(text, shiftTextDates ? { dateShiftDays: shift } : {}).text;
  const current = holder[prop];
  const each = (f: (v: unknown) => unknown): void => {
    holder[prop] = Array.isArray(current)
      ? (current as unknown[]).map((x) => (x === value ? f(x) : x))
      : f(current);
  };
  switch (method) {
    case 'remove':
      if (Array.isArray(current)) {
        const kept = current.filter((x) => x !== value);
        if (kept.length > 0) holder[prop] = kept;
        else Reflect.deleteProperty(holder, prop);
      } else Reflect.deleteProperty(holder, prop);
      return;
    case 'pseudonymize':
      each((v) => {
        const id = v as { system?: string; value?: string };
        return {
          ...(id.system && { system: id.system }),
          ...(id.value && { value: deps.pseudonyms.token(id.system ?? 'id', id.value) }),
        };
      });
      return;
    case 'pseudonymizeReference':
      each((v) => {
        const ref = v as { reference?: string; type?: string };
        const m = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9.-]{1,64})$/.exec(ref.reference ?? '');
        // A display can hold a name; a contained or urn: reference carries no id to protect.
        if (!m)
          return { ...(ref.reference && { reference: ref.reference }), ...(ref.type && { type: ref.type }) };
        return { reference: `${m[1] ?? ''}/${pseudoId(m[1] ?? '', m[2], deps.pseudonyms)}` };
      });
      return;
    case 'generalizeAddress':
      each((v) => {
        const a = v as { use?: string; type?: string; state?: string; country?: string };
        return {
          ...(a.use && { use: a.use }),
          ...(a.type && { type: a.type }),
          ...(a.state && { state: a.state }),
          ...(a.country && { country: a.country }),
        };
      });
      return;
    case 'generalizeDate':
      each((v) => (typeof v === 'string' ? v.slice(0, 4) : v));
      return;
    case 'dateShift':
      each((v) => (typeof v === 'string' ? shiftFhirDate(v, shift) : v));
      return;
    case 'cleanText':
      each((v) => {
        if (typeof v === 'string') return clean(v);
        const n = v as { status?: string; div?: string };
        return { ...n, div: clean(n.div ?? '') };
      });
      return;
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
