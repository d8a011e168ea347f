import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';

/** Small deterministic PRNG (mulberry32) so every run generates the same records. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAMILY = [
  'Smith',
  'Garcia',
  'Nguyen',
  'Okafor',
  'Müller',
  'Rossi',
  'Kowalski',
  'Haddad',
  'Tanaka',
  'Silva',
];
const GIVEN = ['Ann', 'Ben', 'Chloé', 'Dmitri', 'Eve', 'Farah', 'Goran', 'Hana', 'Ivan', 'Jun'];
export const LABS = [
  { code: '2823-3', display: 'Potassium', unit: 'mmol/L', low: 3.0, high: 6.5 },
  { code: '2951-2', display: 'Sodium', unit: 'mmol/L', low: 125, high: 150 },
  { code: '2345-7', display: 'Glucose', unit: 'mg/dL', low: 60, high: 250 },
  { code: '718-7', display: 'Hemoglobin', unit: 'g/dL', low: 7, high: 17 },
  { code: '2160-0', display: 'Creatinine', unit: 'mg/dL', low: 0.5, high: 3 },
];
const CONDITIONS = [
  ['44054006', 'Diabetes mellitus type 2'],
  ['38341003', 'Hypertension'],
  ['195967001', 'Asthma'],
] as const;

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

/** One patient's record as a transaction Bundle of 11 resources linked by urn:uuid references. */
export function patientBundle(r: () => number, n: number): Bundle {
  const u = (k: string): string =>
    `urn:uuid:${n.toString(16).padStart(8, '0')}-0000-4000-8000-${k.padStart(12, '0')}`;
  const entries: BundleEntry[] = [];
  const add = (key: string, resource: Resource): void => {
    entries.push({ fullUrl: u(key), resource, request: { method: 'POST', url: resource.resourceType } });
  };
  const patient = { reference: u('1') };
  add('1', {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: `MRN${n}` }],
    name: [{ family: pick(r, FAMILY), given: [pick(r, GIVEN)] }],
    gender: r() < 0.5 ? 'female' : 'male',
    birthDate: `${1930 + Math.floor(r() * 80)}-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 9)}`,
  });
  for (let e = 0; e < 2; e++) {
    add(`e${e}`, {
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: patient,
      period: {
        start: `2024-0${1 + e}-0${1 + Math.floor(r() * 8)}T08:00:00Z`,
        end: `2024-0${1 + e}-09T09:00:00Z`,
      },
    });
  }
  const results = [];
  for (let o = 0; o < 5; o++) {
    const lab = LABS[o] ?? LABS[0];
    if (!lab) continue;
    const value = Math.round((lab.low + r() * (lab.high - lab.low)) * 10) / 10;
    add(`o${o}`, {
      resourceType: 'Observation',
      status: 'final',
      category: [
        {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' },
          ],
        },
      ],
      code: { coding: [{ system: 'http://loinc.org', code: lab.code, display: lab.display }] },
      subject: patient,
      encounter: { reference: u('e0') },
      effectiveDateTime: `2024-01-0${1 + Math.floor(r() * 8)}T08:30:00Z`,
      valueQuantity: { value, unit: lab.unit, system: 'http://unitsofmeasure.org', code: lab.unit },
    });
    results.push({ reference: u(`o${o}`) });
  }
  add('dr', {
    resourceType: 'DiagnosticReport',
    status: 'final',
    code: {
      coding: [{ system: 'http://loinc.org', code: '24323-8', display: 'Comprehensive metabolic panel' }],
    },
    subject: patient,
    result: results,
  });
  const [code, display] = pick(r, CONDITIONS);
  add('c', {
    resourceType: 'Condition',
    clinicalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
    },
    code: { coding: [{ system: 'http://snomed.info/sct', code, display }] },
    subject: patient,
  });
  add('m', {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: {
      coding: [
        {
          system: 'http://www.nlm.nih.gov/research/umls/rxnorm',
          code: '860975',
          display: 'Metformin 500 MG',
        },
      ],
    },
    subject: patient,
  });
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}
