import { getDataType } from '@medplum/core';
import type { Coding, Resource } from '@medplum/fhirtypes';
import { badRequest } from '../shared';

const SUBSETTED: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'subsetted',
};

export interface Shaping {
  summary?: 'true' | 'text' | 'data' | 'false' | 'count';
  elements?: string[];
}

export function parseShaping(query: [string, string][]): Shaping {
  const out: Shaping = {};
  for (const [k, v] of query) {
    if (k === '_summary') {
      if (!['true', 'text', 'data', 'false', 'count'].includes(v))
        throw badRequest(`Invalid _summary '${v}'`, '_summary');
      out.summary = v as Shaping['summary'];
    } else if (k === '_elements') {
      out.elements = [
        ...(out.elements ?? []),
        ...v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      ];
    }
  }
  return out;
}

function markSubsetted(r: Record<string, unknown>): void {
  const meta = { ...((r.meta as Record<string, unknown> | undefined) ?? {}) };
  const tags = [...((meta.tag as Coding[] | undefined) ?? [])];
  if (!tags.some((t) => t.code === SUBSETTED.code)) tags.push(SUBSETTED);
  meta.tag = tags;
  r.meta = meta;
}

/**
 * The element a JSON property belongs to, by its base name: `effectiveDateTime` and
 * `_effectiveDateTime` are both `effective` (R4 names choice elements without their type).
 */
function elementOf(key: string, elements: Record<string, unknown>): string {
  const base = key.replace(/^_/, '');
  if (base in elements) return base;
  const choice = Object.keys(elements).find(
    (e) => e.endsWith('[x]') && base.startsWith(e.slice(0, -3)) && /^[A-Z]/.test(base.slice(e.length - 3)),
  );
  return choice ? choice.slice(0, -3) : base;
}

/** Applies _summary and _elements (R4 §3.1.1.5.7/8) to one resource. */
export function shapeResource<T extends Resource>(resource: T, shaping: Shaping): T {
  const { summary, elements } = shaping;
  if ((!summary || summary === 'false' || summary === 'count') && !elements?.length) return resource;
  const src = resource as unknown as Record<string, unknown>;
  const schema = getDataType(resource.resourceType);
  const mandatory = new Set(['resourceType', 'id', 'meta', ...(schema.mandatoryProperties ?? [])]);
  const out: Record<string, unknown> = {};
  if (elements?.length && (!summary || summary === 'false')) {
    // Asked for by base name (`effective`) or, as some clients do, with the suffix (`effective[x]`).
    const keep = new Set([...mandatory, ...elements.map((e) => e.replace(/\[x\]$/, ''))]);
    for (const [k, v] of Object.entries(src)) if (keep.has(elementOf(k, schema.elements))) out[k] = v;
  } else if (summary === 'text') {
    for (const k of ['resourceType', 'id', 'meta', 'text', ...mandatory]) if (k in src) out[k] = src[k];
  } else if (summary === 'data') {
    Object.assign(out, src);
    delete out.text;
  } else {
    const summaryProps = schema.summaryProperties ?? new Set<string>();
    for (const [k, v] of Object.entries(src)) {
      const name = elementOf(k, schema.elements);
      if (mandatory.has(name) || summaryProps.has(name)) out[k] = v;
    }
  }
  markSubsetted(out);
  return out as unknown as T;
}
