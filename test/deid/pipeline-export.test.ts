import type {
  Bundle,
  OperationOutcome,
  OperationOutcomeIssue,
  Parameters,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import { writeToTarget } from '../../src/fhir/operations/deid-target';
import type { FhirError } from '../../src/shared';
import type { TestServer } from '../helpers/server';
import { fhirFetch, startTestServer } from '../helpers/server';

/**
 * A patient the clinical pipeline has worked on (extracted texts, lab values, critical findings,
 * red flags, summary Compositions) is de-identified whole, and every copy must be valid R4: the
 * server's own validator is what a target (this same server, often) applies to them.
 */
let source: TestServer;
let target: TestServer;
let patientId = '';
const PIPELINE = 'urn:fhir-dicomweb-server:pipeline';
const KEY = { id: 'pipeline-export', secret: 'pipeline-export-secret-long-enough' };

async function poll(url: string): Promise<{ status: number; body: any }> {
  for (;;) {
    const res = await fetch(url);
    if (res.status !== 202) return { status: res.status, body: await res.json() };
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until every pipeline run for the patient has finished. */
async function runsFinished(server: TestServer, patient: string): Promise<Task[]> {
  for (;;) {
    const bundle = (await fhirFetch(server, `Task?patient=Patient/${patient}&_count=100`))
      .body as Bundle<Task>;
    const tasks = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
    const runs = tasks.filter((t) => t.identifier?.some((i) => i.system === PIPELINE));
    if (runs.length > 0 && runs.every((t) => !['requested', 'in-progress'].includes(t.status))) return runs;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const text = (s: string): { contentType: string; data: string } => ({
  contentType: 'text/plain',
  data: Buffer.from(s).toString('base64'),
});

beforeAll(async () => {
  target = await startTestServer({ pipeline: false });
  source = await startTestServer({
    jobPollSeconds: 0.5,
    deidKey: KEY,
    deidTargets: { research: target.fhirBase },
  });
  patientId = (
    await fhirFetch(source, 'Patient', {
      body: {
        resourceType: 'Patient',
        identifier: [{ system: 'urn:mrn', value: 'MRN-31337' }],
        name: [{ family: 'Featherstonehaugh', given: ['Wilhelmina'] }],
        telecom: [{ system: 'phone', value: '555-0199' }],
        address: [{ line: ['12 Elm Street'], city: 'Springfield', state: 'IL', postalCode: '62704' }],
        birthDate: '1948-07-02',
        // Its name and phone go, and pat-1 wants one of a contact's details to stay.
        contact: [
          {
            relationship: [{ text: 'daughter' }],
            name: { family: 'Featherstonehaugh' },
            telecom: [{ system: 'phone', value: '555-0198' }],
          },
        ],
      },
    })
  ).body.id;
  const subject = { reference: `Patient/${patientId}` };
  const encounter = (
    await fhirFetch(source, 'Encounter', {
      body: {
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
        subject,
        period: { start: '2024-05-01T08:00:00Z', end: '2024-05-01T20:00:00Z' },
      },
    })
  ).body.id as string;
  const writes = [
    fhirFetch(source, 'DiagnosticReport', {
      body: {
        resourceType: 'DiagnosticReport',
        status: 'final',
        code: { text: 'Basic metabolic panel' },
        subject,
        encounter: { reference: `Encounter/${encounter}` },
        effectiveDateTime: '2024-05-01T09:00:00Z',
        issued: '2024-05-01T10:15:00.000Z',
        presentedForm: [text('Potassium 6.8 mmol/L (3.5-5.1) H\nSodium 138 mmol/L (135-145)')],
      },
    }),
    fhirFetch(source, 'DocumentReference', {
      body: {
        resourceType: 'DocumentReference',
        status: 'current',
        subject,
        date: '2024-05-01T11:00:00Z',
        context: { encounter: [{ reference: `Encounter/${encounter}` }] },
        content: [
          {
            attachment: text(
              'Wilhelmina Featherstonehaugh was seen by Dr. Hope Smith. Chest pain radiating to the left arm. ' +
                'ECG shows ST elevation consistent with STEMI. No evidence of pneumothorax.',
            ),
          },
        ],
      },
    }),
  ];
  for (const w of await Promise.all(writes)) expect(w.status).toBe(201);
  const runs = await runsFinished(source, patientId);
  expect(runs.map((t) => t.status)).toEqual(runs.map(() => 'completed'));
}, 120_000);
afterAll(async () => {
  await source.close();
  await target.close();
});

/** The errors this server's $validate finds in a resource, each as "Type expression: text". */
async function errorsOf(resource: Resource): Promise<string[]> {
  const res = await fhirFetch(source, `${resource.resourceType}/$validate`, { body: resource });
  expect(res.status).toBe(200);
  return ((res.body as OperationOutcome).issue ?? [])
    .filter((i: OperationOutcomeIssue) => i.severity === 'error' || i.severity === 'fatal')
    .map(
      (i) =>
        `${resource.resourceType} ${(i.expression ?? []).join(',')}: ${i.details?.text ?? i.diagnostics ?? ''}`,
    );
}

test.each(['basic', 'research-longitudinal', 'keep-descriptions'])(
  'every resource of the de-identified compartment is valid R4 (%s profile)',
  async (profile) => {
    const res = await fhirFetch(source, `Patient/${patientId}/$deidentify?profile=${profile}`);
    expect(res.status).toBe(200);
    const resources = ((res.body as Bundle).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
    const types = new Set<string>(resources.map((r) => r.resourceType));
    for (const t of [
      'Patient',
      'Encounter',
      'DiagnosticReport',
      'DocumentReference',
      'Observation',
      'Composition',
    ])
      expect([t, types.has(t)]).toEqual([t, true]);
    const errors = (await Promise.all(resources.map(errorsOf))).flat();
    expect(errors).toEqual([]);
    expect(JSON.stringify(resources)).not.toMatch(
      /Featherstonehaugh|Wilhelmina|MRN-31337|555-019|Elm Street/,
    );
  },
);

test('the whole compartment is written to a target that validates it (Prefer: respond-async)', async () => {
  const params: Parameters = {
    resourceType: 'Parameters',
    parameter: [{ name: 'target', valueString: 'research' }],
  };
  const kick = await fhirFetch(source, `Patient/${patientId}/$deidentify`, {
    body: params,
    headers: { Prefer: 'respond-async' },
  });
  expect(kick.status).toBe(202);
  const done = await poll(kick.headers.get('content-location') ?? '');
  expect([done.status, done.body?.issue]).toEqual([200, undefined]);
  const result = (done.body as Bundle).entry?.[0]?.resource as Parameters;
  const count = result.parameter?.find((p) => p.name === 'count')?.valueInteger ?? 0;
  expect(count).toBeGreaterThan(5);
  const composition = (await fhirFetch(target, 'Composition')).body as Bundle;
  expect(composition.total ?? composition.entry?.length).toBeGreaterThan(0);
});

test('a refused copy is explained: the target’s human text, the element and the copy, not only a FHIRPath', async () => {
  // What the engine produced before: a section without narrative, entries or sub-sections.
  const broken: Resource = {
    resourceType: 'Composition',
    id: 'broken-copy',
    status: 'preliminary',
    type: { text: 'Summary' },
    date: '2024',
    author: [{ display: 'pipeline' }],
    title: 'Summary',
    section: [{ title: 'Imaging', emptyReason: { text: 'none' } }],
  };
  const err = await writeToTarget(target.fhirBase, [
    { resourceType: 'Basic', id: 'ok', code: { text: 'x' } },
    broken,
  ]).then(
    () => undefined,
    (e: unknown) => e as FhirError,
  );
  expect(err?.status).toBe(422);
  const issue = err?.outcome.issue?.[0];
  expect(issue?.details?.text).toBe(
    'The de-identification target refused the copy (HTTP 400): Constraint cmp-1 not met: A section must ' +
      'contain at least one of text, entries, or sub-sections (at Composition.section[0] of Composition/broken-copy)',
  );
  expect(issue?.expression).toEqual(['Composition.section[0]']);
  expect(issue?.diagnostics).toContain('text.exists() or entry.exists() or section.exists()');
});

test('the asynchronous answer of a refused run carries the same readable reasons', async () => {
  // A hospital profile that (wrongly) hashes codes: the copy breaks a required binding.
  const profile = {
    name: 'hash-codes',
    version: '1',
    fhir: { rules: [{ path: 'Encounter.status', method: 'cryptoHash' }] },
  };
  const lib = await fhirFetch(source, 'Library', {
    body: {
      resourceType: 'Library',
      url: 'https://hospital.example/deid/hash-codes',
      version: '1',
      status: 'active',
      type: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/library-type', code: 'asset-collection' }],
      },
      content: [
        { contentType: 'application/json', data: Buffer.from(JSON.stringify(profile)).toString('base64') },
      ],
    },
  });
  expect(lib.status).toBe(201);
  const kick = await fhirFetch(source, `Patient/${patientId}/$deidentify`, {
    body: {
      resourceType: 'Parameters',
      parameter: [
        { name: 'profile', valueString: `Library/${lib.body.id}` },
        { name: 'target', valueString: 'research' },
      ],
    },
    headers: { Prefer: 'respond-async' },
  });
  expect(kick.status).toBe(202);
  const done = await poll(kick.headers.get('content-location') ?? '');
  expect(done.status).toBe(422);
  const issues = (done.body as OperationOutcome).issue ?? [];
  expect(issues.map((i) => i.expression)).toContainEqual(['Encounter.status']);
  for (const i of issues)
    expect(i.details?.text).toMatch(
      /^The de-identification target refused the copy \(HTTP 400\): \S.* \(at .* of Encounter\/[a-z0-9]+\)$/,
    );
});
