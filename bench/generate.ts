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
/** Lab tests with a reference range (values outside are flagged H or L) and, where the critical-value table has one, its limits. */
export const LABS = [
  { code: '2951-2', display: 'Sodium', unit: 'mmol/L', low: 135, high: 145, critical: [120, 160] },
  { code: '2823-3', display: 'Potassium', unit: 'mmol/L', low: 3.5, high: 5.1, critical: [2.8, 6.2] },
  { code: '2075-0', display: 'Chloride', unit: 'mmol/L', low: 98, high: 107 },
  { code: '2028-9', display: 'Carbon dioxide', unit: 'mmol/L', low: 22, high: 29, critical: [10, 40] },
  { code: '3094-0', display: 'Urea nitrogen', unit: 'mg/dL', low: 7, high: 20 },
  { code: '2160-0', display: 'Creatinine', unit: 'mg/dL', low: 0.6, high: 1.2, critical: [0, 7.4] },
  { code: '2345-7', display: 'Glucose', unit: 'mg/dL', low: 70, high: 99, critical: [40, 450] },
  { code: '17861-6', display: 'Calcium', unit: 'mg/dL', low: 8.6, high: 10.3, critical: [6, 13] },
] as const;
const CBC = [
  { code: '718-7', display: 'Hemoglobin', unit: 'g/dL', low: 12, high: 16, critical: [6, 20] },
  { code: '4544-3', display: 'Hematocrit', unit: '%', low: 36, high: 46, critical: [18, 60] },
  { code: '6690-2', display: 'Leukocytes', unit: '10*3/uL', low: 4.5, high: 11, critical: [2, 30] },
  { code: '777-3', display: 'Platelets', unit: '10*3/uL', low: 150, high: 400, critical: [20, 1000] },
] as const;
const VITALS = [
  { code: '8867-4', display: 'Heart rate', unit: '/min', low: 55, high: 100 },
  { code: '9279-1', display: 'Respiratory rate', unit: '/min', low: 12, high: 20 },
  { code: '8310-5', display: 'Body temperature', unit: 'Cel', low: 36.1, high: 37.5 },
  { code: '29463-7', display: 'Body weight', unit: 'kg', low: 50, high: 110 },
  { code: '59408-5', display: 'Oxygen saturation', unit: '%', low: 94, high: 100 },
] as const;
type Test = {
  code: string;
  display: string;
  unit: string;
  low: number;
  high: number;
  critical?: readonly number[];
};
const MEDICATIONS = [
  ['860975', 'Metformin 500 MG'],
  ['314076', 'Lisinopril 10 MG'],
  ['617312', 'Atorvastatin 40 MG'],
] as const;
const CONDITIONS = [
  ['44054006', 'Diabetes mellitus type 2'],
  ['38341003', 'Hypertension'],
  ['195967001', 'Asthma'],
] as const;

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

/**
 * A value as a lab reports it: mostly in range, about one in eight outside it (flagged H or L),
 * and about one in a hundred beyond a critical limit, where the table has one.
 */
function labValue(r: () => number, t: Test): { value: number; flag: 'N' | 'H' | 'L' } {
  const x = r();
  const span = t.high - t.low;
  let value = t.low + r() * span;
  if (x < 0.01 && t.critical)
    value = r() < 0.5 ? (t.critical[0] ?? t.low) * 0.95 : (t.critical[1] ?? t.high) * 1.05;
  else if (x < 0.07) value = t.high + r() * span * 0.5;
  else if (x < 0.13) value = Math.max(t.low - r() * span * 0.3, t.low / 2);
  value = Math.round(value * 10) / 10;
  return { value, flag: value > t.high ? 'H' : value < t.low ? 'L' : 'N' };
}

/**
 * One patient's whole record as a transaction Bundle of 40 resources linked by urn:uuid
 * references: a Patient, two Encounters, a metabolic panel (8 values and its DiagnosticReport) in
 * each, a blood count (4 and its report) and 5 vital signs in the first, 3 Conditions, 3
 * MedicationRequests, an AllergyIntolerance, an Immunization and a Procedure.
 */
export function patientRecord(r: () => number, n: number): Bundle {
  const u = (k: string): string =>
    `urn:uuid:${n.toString(16).padStart(8, '0')}-0000-4000-8000-${k.padStart(12, '0')}`;
  const entries: BundleEntry[] = [];
  const add = (key: string, resource: Resource): string => {
    entries.push({ fullUrl: u(key), resource, request: { method: 'POST', url: resource.resourceType } });
    return u(key);
  };
  const patient = { reference: u('1') };
  add('1', {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:oid:1.2.36.146.595.217.0.1', value: `MRN${n}` }],
    name: [{ family: pick(r, FAMILY), given: [pick(r, GIVEN)] }],
    gender: r() < 0.5 ? 'female' : 'male',
    birthDate: `${1930 + Math.floor(r() * 80)}-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 9)}`,
  });
  const observation = (key: string, t: Test, encounter: string, category: string, day: number): string => {
    const { value, flag } = labValue(r, t);
    return add(key, {
      resourceType: 'Observation',
      status: 'final',
      category: [
        {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }],
        },
      ],
      code: { coding: [{ system: 'http://loinc.org', code: t.code, display: t.display }], text: t.display },
      subject: patient,
      encounter: { reference: encounter },
      effectiveDateTime: `2024-0${day}-0${1 + Math.floor(r() * 8)}T08:30:00Z`,
      valueQuantity: { value, unit: t.unit, system: 'http://unitsofmeasure.org', code: t.unit },
      ...(category === 'laboratory' && {
        interpretation: [
          {
            coding: [
              { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: flag },
            ],
          },
        ],
        referenceRange: [{ low: { value: t.low, unit: t.unit }, high: { value: t.high, unit: t.unit } }],
      }),
    });
  };
  const report = (key: string, code: string, display: string, encounter: string, results: string[]): void => {
    add(key, {
      resourceType: 'DiagnosticReport',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code, display }] },
      subject: patient,
      encounter: { reference: encounter },
      result: results.map((reference) => ({ reference })),
    });
  };
  for (let e = 0; e < 2; e++) {
    const encounter = add(`e${e}`, {
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: patient,
      period: {
        start: `2024-0${1 + e}-0${1 + Math.floor(r() * 8)}T08:00:00Z`,
        end: `2024-0${1 + e}-09T09:00:00Z`,
      },
    });
    const bmp = LABS.map((t, i) => observation(`b${e}${i}`, t, encounter, 'laboratory', 1 + e));
    report(`rb${e}`, '24323-8', 'Comprehensive metabolic panel', encounter, bmp);
    if (e > 0) continue;
    const cbc = CBC.map((t, i) => observation(`c${i}`, t, encounter, 'laboratory', 1));
    report('rc', '58410-2', 'Complete blood count', encounter, cbc);
    VITALS.forEach((t, i) => observation(`v${i}`, t, encounter, 'vital-signs', 1));
  }
  for (const [i, [code, display]] of CONDITIONS.entries())
    add(`k${i}`, {
      resourceType: 'Condition',
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
      },
      code: { coding: [{ system: 'http://snomed.info/sct', code, display }] },
      subject: patient,
    });
  for (const [i, [code, display]] of MEDICATIONS.entries())
    add(`m${i}`, {
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: {
        coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code, display }],
      },
      subject: patient,
    });
  add('a', {
    resourceType: 'AllergyIntolerance',
    clinicalStatus: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' },
      ],
    },
    code: {
      coding: [{ system: 'http://snomed.info/sct', code: '91936005', display: 'Allergy to penicillin' }],
    },
    patient,
  });
  add('i', {
    resourceType: 'Immunization',
    status: 'completed',
    vaccineCode: {
      coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '140', display: 'Influenza, seasonal' }],
    },
    patient,
    occurrenceDateTime: '2023-10-15',
  });
  add('p', {
    resourceType: 'Procedure',
    status: 'completed',
    code: { coding: [{ system: 'http://snomed.info/sct', code: '73761001', display: 'Colonoscopy' }] },
    subject: patient,
  });
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}
