import type { Bundle, Observation, Parameters, Patient, Provenance } from '@medplum/fhirtypes';
import type { TestServer } from '../helpers/server';
import { fhirFetch, startTestServer } from '../helpers/server';

let source: TestServer;
let target: TestServer;
let patientId = '';
const PHI = ['Quillfeather', 'Marigold', 'MRN-55120', '555-0142', 'Dr. Basil Thornbury'];

/** Polls an async status URL until it stops answering 202. */
async function poll(url: string): Promise<{ status: number; body: any }> {
  for (let i = 0; i < 120; i++) {
    const res = await fetch(url);
    if (res.status !== 202) return { status: res.status, body: await res.json() };
    expect(res.headers.get('x-progress')).toMatch(/queued|running|retry/);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} still running`);
}

async function count(server: TestServer, query: string): Promise<number> {
  return (await fhirFetch(server, `${query}${query.includes('?') ? '&' : '?'}_summary=count`)).body
    .total as number;
}

beforeAll(async () => {
  // Without the pipeline: the exported compartment is exactly what the test wrote.
  target = await startTestServer({ pipeline: false });
  source = await startTestServer({
    pipeline: false,
    deidKey: { id: 'export-test', secret: 'export-test-secret-long-enough' },
    // "refuses": a FHIR endpoint that is not a base, so the transaction is answered 4xx.
    deidTargets: { research: target.fhirBase, refuses: `${target.fhirBase}/Patient` },
    jobPollSeconds: 0.5,
  });
  const patient: Patient = {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:mrn', value: 'MRN-55120' }],
    name: [{ family: 'Quillfeather', given: ['Marigold'] }],
    telecom: [{ system: 'phone', value: '555-0142' }],
    birthDate: '1950-04-11',
  };
  patientId = (await fhirFetch(source, 'Patient', { body: patient })).body.id;
  const obs: Observation = {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'Potassium' },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: '2024-02-02T09:00:00Z',
    valueQuantity: { value: 6.1, unit: 'mmol/L' },
    note: [{ text: 'Marigold Quillfeather phoned 555-0142; Dr. Basil Thornbury informed.' }],
  };
  await fhirFetch(source, 'Observation', { body: obs });
});
afterAll(async () => {
  await source.close();
  await target.close();
});

const exportParams = (targetName: string): Parameters => ({
  resourceType: 'Parameters',
  parameter: [
    { name: 'profile', valueString: 'research-longitudinal' },
    { name: 'target', valueString: targetName },
  ],
});

test('Prefer: respond-async writes the de-identified compartment to a target; the run is traced', async () => {
  const kick = await fhirFetch(source, `Patient/${patientId}/$deidentify`, {
    body: exportParams('research'),
    headers: { Prefer: 'respond-async' },
  });
  expect(kick.status).toBe(202);
  const statusUrl = kick.headers.get('content-location') ?? '';
  expect(statusUrl).toMatch(new RegExp(`^${source.fhirBase}/_async/[0-9a-f-]{36}$`));

  const done = await poll(statusUrl);
  expect(done.status).toBe(200);
  const bundle = done.body as Bundle;
  expect(bundle.type).toBe('batch-response');
  expect(bundle.entry?.[0]?.response?.status).toBe('200');
  const result = bundle.entry?.[0]?.resource as Parameters;
  const locations = (result.parameter ?? [])
    .filter((p) => p.name === 'location')
    .map((p) => p.valueUri ?? '');
  expect(locations).toHaveLength(2);

  // The copies are on the target, free of identifiers, still linked to each other.
  const copies = await Promise.all(
    locations.map(async (url) => {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      return (await res.json()) as Patient | Observation;
    }),
  );
  const text = JSON.stringify(copies);
  for (const value of PHI) expect(text).not.toContain(value);
  const copyPatient = copies.find((c) => c.resourceType === 'Patient') as Patient;
  const copyObs = copies.find((c) => c.resourceType === 'Observation') as Observation;
  expect(copyObs.subject?.reference).toBe(`Patient/${copyPatient.id ?? ''}`);
  expect((await fhirFetch(target, `Patient/${copyPatient.id ?? ''}`)).status).toBe(200);

  // Provenance here: target = the written versions there, entity = the sources, plus the change log.
  const provRef =
    (result.parameter ?? []).find((p) => p.name === 'provenance')?.valueReference?.reference ?? '';
  const prov = (await fhirFetch(source, provRef)).body as Provenance;
  expect(prov.target.map((t) => t.reference).sort()).toEqual([...locations].sort());
  const entities = prov.entity?.map((e) => e.what.reference) ?? [];
  expect(entities).toHaveLength(2);
  expect(entities).toEqual(
    expect.arrayContaining([`Patient/${patientId}`, expect.stringMatching(/^Observation\//)]),
  );
  const log = prov.extension?.[0]?.valueReference?.reference ?? '';
  const changes = JSON.parse((await fhirFetch(source, log)).text) as { changes: { attribute: string }[] };
  expect(changes.changes.map((c) => c.attribute)).toContain('Patient.name');
  expect(JSON.stringify(changes)).not.toContain('Quillfeather');

  // Run again, synchronously: the same pseudonymous ids, so new versions there, not new resources.
  const again = await fhirFetch(source, `Patient/${patientId}/$deidentify`, {
    body: exportParams('research'),
  });
  expect(again.status).toBe(200);
  expect(await count(target, 'Patient')).toBe(1);
  expect(await count(target, 'Observation')).toBe(1);
  // A finished request can be polled again; cancelling it keeps its result.
  expect((await poll(statusUrl)).status).toBe(200);
});

test('a refused or unknown target fails the run with nothing recorded; unknown status URLs are 404', async () => {
  const provenances = await count(source, 'Provenance');
  const refused = await fhirFetch(source, `Patient/${patientId}/$deidentify`, {
    body: exportParams('refuses'),
    headers: { Prefer: 'respond-async' },
  });
  expect(refused.status).toBe(202);
  const failed = await poll(refused.headers.get('content-location') ?? '');
  expect(failed.status).toBe(422);
  expect(failed.body.issue[0].diagnostics).toMatch(/target refused the copy \(HTTP 4\d\d\)/);

  const unknown = await fhirFetch(source, `Patient/${patientId}/$deidentify`, {
    body: exportParams('https://elsewhere.example/fhir'),
  });
  expect(unknown.status).toBe(400);
  expect(unknown.body.issue[0].expression).toEqual(['Parameters.parameter[1]']);
  expect(await count(source, 'Provenance')).toBe(provenances);

  expect((await fhirFetch(source, '_async/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  expect((await fhirFetch(source, '_async/not-a-job')).status).toBe(404);
});

test('a queued request can be cancelled; polling it then answers 404', async () => {
  // With no worker in this process, the request stays queued until it is cancelled.
  const apiOnly = await startTestServer({
    deidKey: { id: 'export-test', secret: 'export-test-secret-long-enough' },
    workerConcurrency: 0,
  });
  try {
    const p = await fhirFetch(apiOnly, 'Patient', { body: { resourceType: 'Patient', gender: 'female' } });
    const kick = await fhirFetch(apiOnly, `Patient/${p.body.id}/$deidentify`, {
      method: 'GET',
      headers: { Prefer: 'respond-async' },
    });
    const url = kick.headers.get('content-location') ?? '';
    const queued = await fetch(url);
    expect(queued.status).toBe(202);
    expect(queued.headers.get('x-progress')).toBe('queued');
    const cancel = await fetch(url, { method: 'DELETE' });
    expect(cancel.status).toBe(202);
    expect((await fetch(url)).status).toBe(404);
  } finally {
    await apiOnly.close();
  }
});

test('a copy returned to the client is traced too: the Provenance names the answer Bundle by its identifier', async () => {
  const res = await fhirFetch(source, `Patient/${patientId}/$deidentify`);
  expect(res.status).toBe(200);
  const bundle = res.body as Bundle;
  expect(bundle.identifier?.value).toMatch(/^urn:uuid:/);
  for (const e of bundle.entry ?? []) expect(e.fullUrl).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5/);
  const found = await fhirFetch(source, `Provenance?entity=Patient/${patientId}&_count=100`);
  const provs = (found.body.entry ?? []).map((e: { resource: Provenance }) => e.resource) as Provenance[];
  const mine = provs.find((p) => p.target[0]?.identifier?.value === bundle.identifier?.value);
  expect(mine?.target[0]?.type).toBe('Bundle');
  expect(mine?.entity).toHaveLength(2);
});
