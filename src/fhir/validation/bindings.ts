import type { InternalSchemaElement } from '@medplum/core';
import { getDataType, isResourceType, tryGetDataType } from '@medplum/core';
import type { CodeableConcept, Coding, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { ValueSetExpander } from '../../terminology';

const PRIMITIVE_CODE_TYPES = new Set(['code']);

/**
 * Checks every element with a required binding against the expanded value set. @medplum/core
 * validates structure, cardinality and invariants but not bindings, so this fills that gap.
 */
export function checkRequiredBindings(
  resource: Resource,
  expander: ValueSetExpander,
): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  walk(resource, resource.resourceType, resource.resourceType, expander, issues, 0);
  return issues;
}

function elementFor(typeName: string, key: string): { el: InternalSchemaElement; type: string } | undefined {
  const schema = tryGetDataType(typeName);
  if (!schema) return undefined;
  const direct = schema.elements[key];
  if (direct) return { el: direct, type: direct.type[0]?.code ?? '' };
  // Choice types: valueQuantity → value[x] of type Quantity.
  for (const [name, el] of Object.entries(schema.elements)) {
    if (!name.endsWith('[x]')) continue;
    const base = name.slice(0, -3);
    if (!key.startsWith(base)) continue;
    const suffix = key.slice(base.length);
    const t = el.type.find((ty) => ty.code.toLowerCase() === suffix.toLowerCase());
    if (t) return { el, type: t.code };
  }
  return undefined;
}

function walk(
  node: unknown,
  typeName: string,
  path: string,
  expander: ValueSetExpander,
  issues: OperationOutcomeIssue[],
  depth: number,
): void {
  if (depth > 64 || typeof node !== 'object' || node === null) return;
  for (const [key, raw] of Object.entries(node as Record<string, unknown>)) {
    if (key === 'resourceType' || key.startsWith('_')) continue;
    const found = elementFor(typeName, key);
    if (!found) continue;
    const values = Array.isArray(raw) ? raw : [raw];
    values.forEach((value, index) => {
      const elPath = `${path}.${key}${Array.isArray(raw) ? `[${index}]` : ''}`;
      const binding = found.el.binding;
      if (binding?.strength === 'required' && binding.valueSet) {
        checkValue(value, found.type, binding.valueSet, elPath, expander, issues);
      }
      if (found.type === 'Resource' && typeof value === 'object' && value !== null) {
        const rt = (value as { resourceType?: string }).resourceType;
        if (rt && isResourceType(rt)) walk(value, rt, elPath, expander, issues, depth + 1);
      } else if (
        tryGetDataType(found.type) &&
        !PRIMITIVE_CODE_TYPES.has(found.type) &&
        getDataType(found.type).elements
      ) {
        walk(value, found.type, elPath, expander, issues, depth + 1);
      }
    });
  }
}

function checkValue(
  value: unknown,
  type: string,
  valueSet: string,
  path: string,
  expander: ValueSetExpander,
  issues: OperationOutcomeIssue[],
): void {
  const expansion = expander.expand(valueSet);
  if (!expansion) return;
  const vsName = valueSet.split('|')[0];
  const fail = (shown: string): void => {
    issues.push({
      severity: 'error',
      code: 'code-invalid',
      details: { text: `Value '${shown}' is not in the required value set ${vsName}` },
      diagnostics: `Value '${shown}' is not in the required value set ${vsName}`,
      expression: [path],
    });
  };
  if (typeof value === 'string') {
    if (!expansion.codes.has(value)) fail(value);
  } else if (type === 'Coding') {
    const c = value as Coding;
    if (c.code && !(c.system ? expansion.pairs.has(`${c.system}|${c.code}`) : expansion.codes.has(c.code)))
      fail(c.code);
  } else if (type === 'CodeableConcept') {
    const codings = (value as CodeableConcept).coding ?? [];
    if (
      codings.length > 0 &&
      !codings.some((c) => c.code && c.system && expansion.pairs.has(`${c.system}|${c.code}`))
    ) {
      fail(codings.map((c) => `${c.system ?? ''}|${c.code ?? ''}`).join(', '));
    }
  }
}
