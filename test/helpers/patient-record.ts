import { createHash } from 'node:crypto';
import type { Bundle, BundleEntry, Observation, Resource } from '@medplum/fhirtypes';

/** Lab values as a lab sends them: LOINC, UCUM unit, the lab's own interpretation. */
const PANEL: [code: string, display: string, unit: string, value: number, flag: 'N' | 'H' | 'L'][] = [
  ['2951-2', 'Sodium', 'mmol/L', 139, 'N'],
  ['2075-0', 'Chloride', 'mmol/L', 101, 'N'],
  ['2028-9', 'Carbon dioxide', 'mmol/L', 25, 'N'],
  ['3094-0', 'Urea nitrogen', 'mg/dL', 14, 'N'],
  ['2160-0', 'Creatinine', 'mg/dL', 1.9, 'H'],
  ['2345-7', 'Glucose', 'mg/dL', 182, 'H'],
  ['17861-6', 'Calcium', 'mg/dL', 9.4, 'N'],
  ['718-7', 'Hemoglobin', 'g/dL', 10.1, 'L'],
  ['4544-3', 'Hematocrit', '%', 41, 'N'],
  ['6690-2', 'Leukocytes', '10*3/uL', 7.2, 'N'],
  ['777-3', 'Platelets', '10*3/uL', 250, 'N'],
  ['6301-6', 'INR', '{INR}', 1.0, 'N'],
  ['2524-7', 'Lactate', 'mmol/L', 1.1, 'N'],
  ['10839-9', 'Troponin I', 'ng/mL', 0.01, 'N'],
];
const VITALS: [code: string, display: string, unit: string, value: number][] = [
  ['8867-4', 'Heart rate', '/min', 72],
  ['9279-1', 'Respiratory rate', '/min', 16],
];

export interface PatientRecord {
  bundle: Bundle;
  /** fullUrls of the critical potassium, of the values the lab flagged, and of the rest. */
  potassium: string;
  flagged: string[];
  others: string[];
}

export function observation(
  urn: (k: string) => string,
  encounter: string,
  [code, display, unit, value]: [string, string, string, number],
  flag?: string,
): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/observation-category',
            code: flag ? 'laboratory' : 'vital-signs',
          },
        ],
      },
    ],
    code: { coding: [{ system: 'http://loinc.org', code, display }], text: display },
    subject: { reference: urn('patient') },
    encounter: { reference: urn(encounter) },
    effectiveDateTime: '2024-03-01T08:30:00Z',
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
    ...(flag && {
      interpretation: [
        {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: flag },
          ],
        },
      ],
    }),
  };
}

/**
 * A whole patient record in 40 entries: a Patient, two Encounters, 34 Observations (a lab panel
 * and two vital signs in each; the first potassium is critical), a DiagnosticReport of the first
 * panel, a Condition and a MedicationRequest.
 */
export function patientRecord(tag: string): PatientRecord {
  const urn = (k: string): string => {
    const h = createHash('sha256').update(`${tag}|${k}`).digest('hex');
    return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
  };
  const entries: BundleEntry[] = [];
  const add = (key: string, resource: Resource): string => {
    entries.push({ fullUrl: urn(key), resource, request: { method: 'POST', url: resource.resourceType } });
    return urn(key);
  };
  add('patient', {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:mrn', value: tag }],
    birthDate: '1958-04-02',
  });
  const flagged: string[] = [];
  const others: string[] = [];
  const panel: string[] = [];
  let potassium = '';
  for (const e of ['e0', 'e1']) {
    add(e, {
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: urn('patient') },
    });
    // Potassium 7.1 is beyond the critical limit (6.2); 4.2 is not.
    const k: (typeof PANEL)[number] = [
      '2823-3',
      'Potassium',
      'mmol/L',
      e === 'e0' ? 7.1 : 4.2,
      e === 'e0' ? 'H' : 'N',
    ];
    [k, ...PANEL].forEach(([code, display, unit, value, flag], i) => {
      const url = add(`${e}-lab${i}`, observation(urn, e, [code, display, unit, value], flag));
      if (e === 'e0') panel.push(url);
      if (e === 'e0' && i === 0) potassium = url;
      else (flag === 'N' ? others : flagged).push(url);
    });
    for (const [i, vital] of VITALS.entries()) others.push(add(`${e}-vital${i}`, observation(urn, e, vital)));
  }
  add('report', {
    resourceType: 'DiagnosticReport',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '24323-8', display: 'Metabolic panel' }] },
    subject: { reference: urn('patient') },
    encounter: { reference: urn('e0') },
    result: panel.map((reference) => ({ reference })),
  });
  add('condition', {
    resourceType: 'Condition',
    code: {
      coding: [{ system: 'http://snomed.info/sct', code: '44054006', display: 'Diabetes mellitus type 2' }],
    },
    subject: { reference: urn('patient') },
  });
  add('medication', {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    subject: { reference: urn('patient') },
    medicationCodeableConcept: { text: 'Metformin 500 mg' },
  });
  return {
    bundle: { resourceType: 'Bundle', type: 'transaction', entry: entries },
    potassium,
    flagged,
    others,
  };
}
