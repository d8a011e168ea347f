import { isPrimitiveType, tryGetDataType } from '@medplum/core';
import type { Extension, Narrative } from '@medplum/fhirtypes';

type Json = Record<string, unknown>;

/** R4's way to say a required value is withheld for privacy (data-absent-reason `masked`). */
const MASKED: Extension = {
  url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason',
  valueCode: 'masked',
};

/** A narrative cannot be masked (it needs status and div): one saying it was removed stands in. */
const REMOVED_NARRATIVE: Narrative = {
  status: 'empty',
  div: '<div xmlns="http://www.w3.org/1999/xhtml">Removed by de-identification</div>',
};

/** An R4 invariant of the form `a.exists() or b.exists() ...`: one of these elements must stay. */
const ONE_OF = /^\(?\s*\w+\.exists\(\)(\s+or\s+\w+\.exists\(\))+\s*\)?$/;

type Schema = NonNullable<ReturnType<typeof tryGetDataType>>;
type SchemaElement = Schema['elements'][string];

/**
 * Mends what removing and generalising values leaves invalid, so the copy is valid R4: an element
 * left empty (`{}`, `[]`, an extension without a value) goes; a required element that went, or
 * the first element of an invariant that needs one of several (cmp-1 of a Composition section,
 * pat-1 of a Patient contact, obs-3 of a reference range), is there again holding only the
 * `masked` data-absent-reason. `note` hears the path of every placeholder, for the change log.
 */
export function conformResource(resource: Json, note: (path: string) => void): void {
  conform(resource, String(resource.resourceType), String(resource.resourceType), note);
}

function conform(value: Json, type: string, path: string, note: (path: string) => void): void {
  const schema = tryGetDataType(type);
  if (!schema) return;
  for (const key of Object.keys(value)) {
    if (key === 'resourceType' || key.startsWith('_')) continue;
    const element = elementOf(schema.elements, key);
    if (!element) continue;
    const items = (Array.isArray(value[key]) ? value[key] : [value[key]]) as unknown[];
    const kept = items.filter((item) => {
      if (typeof item !== 'object' || item === null) return item !== undefined;
      const childType = element.type === 'Resource' ? String((item as Json).resourceType) : element.type;
      if (!isPrimitiveType(childType)) conform(item as Json, childType, `${path}.${key}`, note);
      return !isEmpty(item as Json, childType);
    });
    if (kept.length === 0) Reflect.deleteProperty(value, key);
    else value[key] = Array.isArray(value[key]) ? kept : kept[0];
  }
  for (const [name, el] of Object.entries(schema.elements))
    if (el.min >= 1 && !present(value, name)) fill(value, name, el, path, note);
  for (const c of schema.constraints ?? []) {
    if (c.severity !== 'error' || !ONE_OF.test(c.expression)) continue;
    // Named as FHIRPath names them: `rate` is the schema's `rate[x]`.
    const names = [...c.expression.matchAll(/(\w+)\.exists\(\)/g)].map((m) =>
      (m[1] ?? '') in schema.elements ? (m[1] ?? '') : `${m[1] ?? ''}[x]`,
    );
    const first = names[0] ?? '';
    const el = schema.elements[first];
    if (el && !names.some((n) => present(value, n))) fill(value, first, el, path, note);
  }
}

/** Puts a placeholder for a withheld element: masked, or for a narrative, one saying it went. */
function fill(
  value: Json,
  name: string,
  el: SchemaElement,
  path: string,
  note: (path: string) => void,
): void {
  const code = el.type[0]?.code ?? 'Element';
  const key = name.endsWith('[x]') ? name.slice(0, -3) + code.charAt(0).toUpperCase() + code.slice(1) : name;
  const at = `${path}.${name.replace('[x]', '')}`;
  let placeholder: Json;
  if (code === 'Narrative') placeholder = { ...REMOVED_NARRATIVE };
  else {
    placeholder = { extension: [MASKED] };
    // A structure gets its own required parts too.
    if (!isPrimitiveType(code)) conform(placeholder, code, at, note);
  }
  // A primitive's extensions sit beside it, under `_name`.
  value[isPrimitiveType(code) ? `_${key}` : key] = el.isArray ? [placeholder] : placeholder;
  note(at);
}

/** The schema element a JSON key belongs to (`valueQuantity` is `value[x]` of type Quantity). */
function elementOf(elements: Schema['elements'], key: string): { type: string } | undefined {
  const direct = elements[key];
  if (direct) return { type: direct.type[0]?.code ?? 'Element' };
  for (const [name, el] of Object.entries(elements)) {
    if (!name.endsWith('[x]') || !key.startsWith(name.slice(0, -3))) continue;
    const suffix = key.slice(name.length - 3);
    const t = el.type.find((x) => x.code.toLowerCase() === suffix.toLowerCase());
    if (t) return { type: t.code };
  }
  return undefined;
}

function present(value: Json, name: string): boolean {
  if (!name.endsWith('[x]')) return name in value || `_${name}` in value;
  const base = name.slice(0, -3);
  return Object.keys(value).some(
    (k) => k.replace(/^_/, '').startsWith(base) && /^[A-Z]/.test(k.replace(/^_/, '').slice(base.length)),
  );
}

/** ele-1: an element needs a value or children besides its id; an extension needs a value too. */
function isEmpty(value: Json, type: string): boolean {
  const ignore = type === 'Extension' ? ['id', 'url'] : ['id'];
  return Object.keys(value).every((k) => ignore.includes(k));
}
