import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import type { TestServer } from '../helpers/server';
import { fhirFetch, startTestServer } from '../helpers/server';

let server: TestServer;
let patientId = '';
const PHI = [
  'Quackenbush',
  'Zebediah',
  'MRN-44731',
  '555-0177',
  'Elm Street',
  '62704',
  'zeb@example.org',
  'Dr. Ada Lovelace',
];

beforeAll(async () => {
  // Without the pipeline, so the compartment holds exactly what the test wrote (no findings yet).
  server = await startTestServer({
    deidKey: { id: 'fhir-test', secret: 'another-test-secret-long-enough' },
    pipeline: false,
  });
  const patient: Patient = {
    resourceType: 'Patient',
    text: {
      status: 'generated',
      div: '<div xmlns="http://www.w3.org/1999/xhtml">Zebediah Quackenbush</div>',
    },
    identifier: [{ system: 'urn:mrn', value: 'MRN-44731' }],
    name: [{ family: 'Quackenbush', given: ['Zebediah'] }],
    telecom: [
      { system: 'phone', value: '555-0177' },
      { system: 'email', value: 'zeb@example.org' },
    ],
    gender: 'male',
    birthDate: '1948-07-21',
    address: [
      { line: ['12 Elm Street'], city: 'Springfield', state: 'IL', postalCode: '62704', country: 'US' },
    ],
  };
  patientId = (await fhirFetch(server, 'Patient', { body: patient })).body.id;
  for (const [day, value] of [
    ['2024-01-05', 6.8],
    ['2024-03-05', 4.1],
  ] as const) {
    const obs: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '2823-3' }], text: 'Potassium' },
      subject: { reference: `Patient/${patientId}`, display: 'Zebediah Quackenbush' },
      effectiveDateTime: `${day}T08:00:00Z`,
      valueQuantity: { value, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
      note: [{ text: `Called Zebediah Quackenbush at 555-0177; seen by Dr. Ada Lovelace. Drawn ${day}.` }],
    };
    await fhirFetch(server, 'Observation', { body: obs });
  }
});
afterAll(async () => {
  await server.close();
});

test('a Patient compartment comes back de-identified, with references that still resolve inside it', async () => {
  const res = await fhirFetch(server, `Patient/${patientId}/$deidentify`);
  expect(res.status).toBe(200);
  const bundle = res.body as Bundle;
  expect(bundle.type).toBe('collection');
  expect(bundle.entry).toHaveLength(3);
  for (const value of PHI) expect(res.text).not.toContain(value);
  const patient = bundle.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource as Patient;
  expect(patient.id).not.toBe(patientId);
  expect(patient.name).toBeUndefined();
  expect(patient.telecom).toBeUndefined();
  expect(patient.text).toBeUndefined();
  expect(patient.birthDate).toBe('1948'); // Safe Harbor keeps the year
  expect(patient.address).toEqual([{ state: 'IL', country: 'US' }]);
  expect(patient.identifier?.[0]?.system).toBe('urn:mrn');
  expect(patient.gender).toBe('male');
  const observations =
    bundle.entry
      ?.filter((e) => e.resource?.resourceType === 'Observation')
      .map((e) => e.resource as Observation) ?? [];
  for (const o of observations) {
    expect(o.subject).toEqual({ reference: `Patient/${patient.id ?? ''}` });
    expect(o.valueQuantity?.unit).toBe('mmol/L');
    expect(o.note?.[0]?.text).toMatch(
      /^Called \[NAME-1\] at \[PHONE-1\]; seen by Dr\. \[NAME-2\]\. Drawn \[DATE-1\]\.$/,
    );
  }
  // The same input gives the same pseudonyms: a second export links to the first.
  const again = (await fhirFetch(server, `Patient/${patientId}/$deidentify`)).body as Bundle;
  expect(again.entry?.map((e) => e.resource?.id).sort()).toEqual(
    bundle.entry?.map((e) => e.resource?.id).sort(),
  );
});

test('research-longitudinal shifts one patient’s dates by one offset, keeping intervals', async () => {
  const res = await fhirFetch(server, `Patient/${patientId}/$deidentify?profile=research-longitudinal`);
  const bundle = res.body as Bundle;
  const days = (bundle.entry ?? [])
    .map((e) => e.resource as Observation)
    .filter((r) => r.resourceType === 'Observation')
    .map((o) => Date.parse(o.effectiveDateTime ?? '') / 86_400_000)
    .sort((a, b) => a - b);
  expect(days[1]! - days[0]!).toBe(60); // 2024-01-05 to 2024-03-05
  // Dates in the notes move with the structured ones: each note names its own shifted day.
  for (const o of (bundle.entry ?? [])
    .map((e) => e.resource as Observation)
    .filter((r) => r.resourceType === 'Observation'))
    expect(o.note?.[0]?.text).toContain(`Drawn ${(o.effectiveDateTime ?? '').slice(0, 10)}.`);
  expect(res.text).not.toContain('2024-01-05');
  const patient = bundle.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource as Patient;
  expect(patient.birthDate).not.toBe('1948-07-21');
  expect(patient.birthDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
});

test('a posted Bundle is de-identified as a whole; bad profiles and a missing key are refused', async () => {
  const input: Bundle = {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      { resource: { resourceType: 'Patient', id: 'x1', name: [{ family: 'Quackenbush' }] } },
      {
        resource: {
          resourceType: 'Observation',
          id: 'o1',
          status: 'final',
          code: { text: 'x' },
          subject: { reference: 'Patient/x1' },
        },
      },
    ],
  };
  const res = await fhirFetch(server, '$deidentify', { body: input });
  expect(res.status).toBe(200);
  const out = res.body as Bundle;
  const pid = out.entry?.[0]?.resource?.id;
  expect((out.entry?.[1]?.resource as Observation).subject?.reference).toBe(`Patient/${pid ?? ''}`);
  expect(res.text).not.toContain('Quackenbush');
  const bad = await fhirFetch(server, `Patient/${patientId}/$deidentify?profile=nonsense`);
  expect(bad.status).toBe(400);
  expect(bad.body.issue[0].expression).toEqual(['profile']);
  // Runs are audited with their change log of paths and counts.
  const audits = await fhirFetch(server, 'AuditEvent?_count=100');
  expect(JSON.stringify(audits.body)).toContain('deidentify-fhir');
});
