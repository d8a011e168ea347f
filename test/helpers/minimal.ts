import { getDataType, tryGetDataType } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { ValueSetExpander } from '../../src/terminology';

const expander = new ValueSetExpander();

const PRIMITIVES: Record<string, unknown> = {
  string: 'example',
  markdown: 'example',
  code: 'example',
  id: 'example',
  uri: 'urn:example:1',
  url: 'http://example.org/x',
  canonical: 'http://example.org/StructureDefinition/x',
  oid: 'urn:oid:1.2.3',
  uuid: 'urn:uuid:7f9d3a55-1f4a-4d6e-9a7b-1c2d3e4f5a6b',
  boolean: true,
  integer: 1,
  positiveInt: 1,
  unsignedInt: 0,
  decimal: 1.5,
  date: '2020-01-01',
  dateTime: '2020-01-01T10:00:00Z',
  instant: '2020-01-01T10:00:00Z',
  time: '10:00:00',
  base64Binary: 'aGVsbG8=',
};

function valueFor(typeCode: string, binding: string | undefined, depth: number): unknown {
  if (binding) {
    const e = expander.expand(binding);
    const first = e ? [...e.pairs][0] : undefined;
    if (first) {
      const [system, code] = first.split('|') as [string, string];
      if (typeCode === 'code') return code;
      if (typeCode === 'Coding') return { system, code };
      if (typeCode === 'CodeableConcept') return { coding: [{ system, code }] };
    }
  }
  if (typeCode in PRIMITIVES) return PRIMITIVES[typeCode];
  if (typeCode === 'Reference') return { display: 'example' };
  if (typeCode === 'CodeableConcept') return { text: 'example' };
  if (typeCode === 'Coding') return { system: 'http://example.org', code: 'x' };
  if (typeCode === 'Resource') return { resourceType: 'Basic', code: { text: 'x' } };
  if (typeCode === 'Attachment') return { contentType: 'text/plain', data: 'aGVsbG8=' };
  if (typeCode === 'Quantity' || typeCode === 'SimpleQuantity') return { value: 1 };
  if (typeCode === 'Money') return { value: 1, currency: 'USD' };
  if (typeCode === 'Period') return { start: '2020-01-01' };
  if (typeCode === 'Narrative')
    return { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' };
  return fill(typeCode, depth + 1);
}

function fill(typeName: string, depth: number): Record<string, unknown> {
  const schema = tryGetDataType(typeName);
  const out: Record<string, unknown> = {};
  if (!schema || depth > 6) return out;
  for (const [name, el] of Object.entries(schema.elements)) {
    if (el.min < 1 || name.includes('.')) continue;
    const t = el.type[0]?.code ?? 'string';
    const key = name.endsWith('[x]') ? name.slice(0, -3) + t.charAt(0).toUpperCase() + t.slice(1) : name;
    const v = valueFor(t, el.binding?.strength === 'required' ? el.binding.valueSet : undefined, depth);
    out[key] = el.isArray || el.max > 1 ? [v] : v;
  }
  return out;
}

/** Elements that invariants (not cardinality) require, per type. */
const INVARIANT_EXTRAS: Record<string, Record<string, unknown>> = {
  AllergyIntolerance: {
    clinicalStatus: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' },
      ],
    },
  },
  Appointment: { participant: [{ status: 'accepted', type: [{ text: 'x' }] }] },
  AppointmentResponse: { participantType: [{ text: 'x' }] },
  Bundle: { type: 'collection' },
  CapabilityStatement: { kind: 'capability', rest: [{ mode: 'server' }], software: { name: 'x' } },
  Consent: { policyRule: { text: 'x' } },
  ImmunizationRecommendation: {
    recommendation: [{ forecastStatus: { text: 'due' }, vaccineCode: [{ text: 'x' }] }],
  },
  InsurancePlan: { name: 'Plan' },
  Linkage: {
    item: [
      { type: 'source', resource: { display: 'a' } },
      { type: 'alternate', resource: { display: 'b' } },
    ],
  },
  StructureDefinition: {
    differential: { element: [{ id: 'Patient', path: 'Patient' }] },
    type: 'Patient',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Patient',
    derivation: 'constraint',
  },
  TerminologyCapabilities: { kind: 'capability', software: { name: 'x' } },
};

/** A minimal instance of a resource type: every required element filled with a valid value. */
export function minimalResource(type: string): Resource {
  getDataType(type);
  return { resourceType: type, ...fill(type, 0), ...INVARIANT_EXTRAS[type] } as Resource;
}
