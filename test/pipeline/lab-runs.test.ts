import type {
  AuditEvent,
  Bundle,
  BundleEntry,
  Composition,
  Observation,
  Provenance,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import { labRunId } from '../../src/pipeline/trigger';
import type { LabRunJob } from '../../src/pipeline/types';
import type { TestServer } from '../helpers/server';
import { observation, patientRecord } from '../helpers/patient-record';
import { fhirFetch, startTestServer } from '../helpers/server';

const PIPELINE = 'urn:fhir-dicomweb-server:pipeline';
const QUEUE = 'clinical-pipeline';
const SYSTEM = { kind: 'system', actor: 'test', roles: ['system'] } as const;

let server: TestServer;

/** Posts a transaction; answers each entry's "Type/id" as written, by fullUrl (or index). */
async function post(bundle: Bundle, on: TestServer = server): Promise<Map<string, string>> {
  const res = await fhirFetch(on, '', { body: bundle });
  expect(res.status).toBe(200);
  const ids = new Map<string, string>();
  (res.body as Bundle).entry?.forEach((e, i) => {
    const location = e.response?.location?.replace(/\/_history\/\d+$/, '') ?? '';
    ids.set(bundle.entry?.[i]?.fullUrl ?? String(i), location.replace(/^.*\/fhir\//, ''));
  });
  return ids;
}

async function search<T extends Resource>(query: string): Promise<T[]> {
  const bundle = (await fhirFetch(server, query)).body as Bundle<T>;
  return (bundle.entry ?? []).map((e) => e.resource as T);
}

/** Polls until the queue has nothing waiting, retrying or running. */
async function drained(on: TestServer = server): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await on.jobs.pending(QUEUE)) === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the pipeline queue never drained');
}

const count = async (query: string): Promise<number> =>
  (await fhirFetch(server, `${query}${query.includes('?') ? '&' : '?'}_summary=count`)).body.total as number;

beforeAll(async () => {
  server = await startTestServer({ jobPollSeconds: 0.5 });
});
afterAll(async () => {
  await server.close();
});

test('a 40-resource patient record is one run: its critical potassium is found once, no Task per value, the summary lists the abnormal labs', async () => {
  const record = patientRecord('whole-record');
  expect(record.bundle.entry).toHaveLength(40);
  const ids = await post(record.bundle);
  await drained();
  const patient = ids.get(record.bundle.entry?.[0]?.fullUrl ?? '') ?? '';
  const k = ids.get(record.potassium) ?? '';

  // One Task for the whole record (it found something), naming every value and the report.
  const tasks = await search<Task>(`Task?patient=${patient}`);
  expect(tasks).toHaveLength(1);
  const [task] = tasks;
  expect(task?.status).toBe('completed');
  const sources = [...ids.values()].filter((r) => /^(Observation|DiagnosticReport)\//.test(r));
  expect(sources).toHaveLength(35);
  expect(task?.input?.map((i) => i.valueReference?.reference).sort()).toEqual(
    sources.map((r) => `${r}/_history/1`).sort(),
  );
  // Found by any of its values, as a run of one value would be.
  for (const value of [k, ids.get(record.others[0] ?? '') ?? ''])
    expect(
      (await search<Task>(`Task?identifier=${encodeURIComponent(`${PIPELINE}|${value}/_history/1`)}`)).map(
        (t) => t.id,
      ),
    ).toEqual([task?.id]);

  const findings = await search<Observation>(
    `Observation?subject=${patient}&code=${encodeURIComponent(`${PIPELINE}|critical-lab-value`)}`,
  );
  expect(findings).toHaveLength(1);
  const [finding] = findings;
  expect(finding?.interpretation?.[0]?.coding?.[0]?.code).toBe('HH');
  expect(finding?.valueQuantity?.value).toBe(7.1);
  expect(finding?.derivedFrom).toEqual([{ reference: `${k}/_history/1` }]);
  expect(finding?.encounter?.reference).toBe(ids.get(record.bundle.entry?.[1]?.fullUrl ?? ''));
  const provenance = await search<Provenance>(
    `Provenance?target=Observation/${finding?.id ?? ''}/_history/1`,
  );
  expect(provenance.map((p) => p.entity?.map((e) => e.what.reference))).toEqual([[`${k}/_history/1`]]);
  expect(outputs(task, 'Observation')).toEqual([`Observation/${finding?.id ?? ''}`]);

  // One AuditEvent records the check of every value, the critical one and the others alike.
  const audits = await search<AuditEvent>(
    `AuditEvent?entity=${ids.get(record.others[0] ?? '') ?? ''}/_history/1`,
  );
  expect(audits).toHaveLength(1);
  expect(audits[0]?.entity?.map((e) => e.what?.reference)).toEqual(
    expect.arrayContaining([...sources.map((r) => `${r}/_history/1`), `Task/${task?.id ?? ''}`]),
  );

  // The patient's summary, and each encounter's: the critical finding and every value the lab flagged.
  const compositions = await search<Composition>(`Composition?subject=${patient}`);
  expect(compositions).toHaveLength(3);
  const whole = compositions.find((c) => !c.encounter);
  const [critical, abnormal] = whole?.section ?? [];
  expect(critical?.entry?.map((e) => e.reference)).toEqual([
    `Observation/${finding?.id ?? ''}`,
    `${k}/_history/1`,
  ]);
  expect(abnormal?.entry?.map((e) => e.reference).sort()).toEqual(
    [k, ...record.flagged.map((f) => ids.get(f) ?? '')].sort(),
  );
  expect(abnormal?.text?.div).toContain('Glucose 182 mg/dL (H)');
  const visit = compositions.find(
    (c) => c.encounter?.reference === ids.get(record.bundle.entry?.[1]?.fullUrl ?? ''),
  );
  expect(visit?.section?.[0]?.entry?.[0]?.reference).toBe(`Observation/${finding?.id ?? ''}`);
  expect(visit?.section?.[1]?.entry).toHaveLength(4);

  // Redelivered (the worker died after its commit, before the queue heard of it): nothing changes.
  const snapshot = async (): Promise<string[]> => [
    ...(await search<Resource>(`Observation?subject=${patient}&_count=100`))
      .map((o) => `${o.id ?? ''}@${o.meta?.versionId ?? ''}`)
      .sort(),
    `provenance ${await count('Provenance')}`,
    `tasks ${await count('Task')}`,
    `task ${(await search<Task>(`Task?patient=${patient}`)).map((t) => t.meta?.versionId).join()}`,
    `audit ${audits[0]?.meta?.versionId ?? ''}`,
  ];
  const before = await snapshot();
  const job: LabRunJob = {
    run: labRunId(
      sources.map((r) => ({ type: r.split('/')[0] ?? '', id: r.split('/')[1] ?? '', versionId: 1 })),
    ),
    patient,
    sources: sources.map((r) => ({ type: r.split('/')[0] ?? '', id: r.split('/')[1] ?? '', versionId: 1 })),
  };
  await server.jobs.send(QUEUE, job);
  await drained();
  expect(await snapshot()).toEqual(before);
  // Even a run that really checks every value again (its record gone) writes no second finding
  // and no new version or Provenance of the one there is.
  await server.repo.delete(SYSTEM, 'AuditEvent', audits[0]?.id ?? '');
  await server.jobs.send(QUEUE, job);
  await drained();
  const again = await search<AuditEvent>(`AuditEvent?entity=${k}/_history/1`);
  expect(again).toHaveLength(1);
  const after = await snapshot();
  expect(after.slice(0, -3)).toEqual(before.slice(0, -3));
  expect(after.at(-3)).toBe(before.at(-3));
});

test('a second transaction for the patient is a run of its own; values with nothing to find make no Task', async () => {
  const record = patientRecord('second-transaction');
  const ids = await post(record.bundle);
  const patient = ids.get(record.bundle.entry?.[0]?.fullUrl ?? '') ?? '';
  const later = (value: number, flag: string): BundleEntry => ({
    resource: {
      ...observation(() => patient, 'none', ['2951-2', 'Sodium', 'mmol/L', value], flag),
      subject: { reference: patient },
      encounter: undefined,
    },
    request: { method: 'POST', url: 'Observation' },
  });
  // Sodium 118 is critical (limit 120); 140 is not.
  const second = await post({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [later(118, 'L'), later(140, 'N')],
  });
  const normal = await post({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [later(141, 'N'), later(139, 'N')],
  });
  await drained();
  const tasks = await search<Task>(`Task?patient=${patient}`);
  expect(tasks).toHaveLength(2);
  const secondTask = tasks.find((t) => t.input?.length === 2);
  expect(secondTask?.input?.map((i) => i.valueReference?.reference).sort()).toEqual(
    [...second.values()].map((r) => `${r}/_history/1`).sort(),
  );
  expect(
    await count(
      `Observation?subject=${patient}&code=${encodeURIComponent(`${PIPELINE}|critical-lab-value`)}`,
    ),
  ).toBe(2);
  // The normal values were checked (their run's AuditEvent names them) but have no Task.
  for (const value of normal.values()) {
    expect(await count(`AuditEvent?entity=${value}/_history/1`)).toBe(1);
    expect(await count(`Task?identifier=${encodeURIComponent(`${PIPELINE}|${value}/_history/1`)}`)).toBe(0);
  }
});

test('a committed record is one job for all its values; a rolled-back one starts nothing', async () => {
  // No workers here, so the queue shows what each write left in it.
  const idle = await startTestServer({ workerConcurrency: 0 });
  try {
    const record = patientRecord('rolled-back');
    const broken: Bundle = {
      ...record.bundle,
      entry: [
        ...(record.bundle.entry ?? []),
        {
          resource: { resourceType: 'Observation', status: 'bogus' } as unknown as Observation,
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    expect((await fhirFetch(idle, '', { body: broken })).status).toBe(400);
    expect(await idle.jobs.pending(QUEUE)).toBe(0);
    expect((await fhirFetch(idle, 'Task?_summary=count')).body.total).toBe(0);
    await post(record.bundle, idle);
    expect(await idle.jobs.pending(QUEUE)).toBe(1);
    expect((await fhirFetch(idle, 'Task?_summary=count')).body.total).toBe(0);
  } finally {
    await idle.close();
  }
});

test('a newer version of a value supersedes the run of the older one', async () => {
  const patient = `Patient/${(await fhirFetch(server, 'Patient', { body: { resourceType: 'Patient' } })).body.id as string}`;
  const potassium = (value: number): Observation => ({
    ...observation(() => patient, 'none', ['2823-3', 'Potassium', 'mmol/L', value], 'N'),
    id: 'superseded-potassium',
    encounter: undefined,
  });
  expect(
    (await fhirFetch(server, 'Observation/superseded-potassium', { method: 'PUT', body: potassium(4.0) }))
      .status,
  ).toBe(201);
  await drained();
  expect(
    (await fhirFetch(server, 'Observation/superseded-potassium', { method: 'PUT', body: potassium(7.3) }))
      .status,
  ).toBe(200);
  await drained();
  // The first version's run again (its record gone, as if it had never run) once version 2 exists.
  // (A reference search matches every version of its target: the run is told by its entity.)
  const runOf = async (version: number): Promise<AuditEvent[]> =>
    (await search<AuditEvent>('AuditEvent?entity=Observation/superseded-potassium')).filter((a) =>
      a.entity?.some((e) => e.what?.reference === `Observation/superseded-potassium/_history/${version}`),
    );
  const [audit] = await runOf(1);
  expect(await runOf(2)).toHaveLength(1);
  await server.repo.delete(SYSTEM, 'AuditEvent', audit?.id ?? '');
  const v1 = [{ type: 'Observation', id: 'superseded-potassium', versionId: 1 }];
  const id = await server.jobs.send(QUEUE, { run: labRunId(v1), patient, sources: v1 } satisfies LabRunJob);
  await drained();
  expect((await server.jobs.get(QUEUE, id))?.output).toEqual({ skipped: 'superseded' });
  expect(await runOf(1)).toEqual([]);
  const findings = await search<Observation>(
    `Observation?subject=${patient}&code=${encodeURIComponent(`${PIPELINE}|critical-lab-value`)}`,
  );
  expect(findings.map((f) => f.derivedFrom?.[0]?.reference)).toEqual([
    'Observation/superseded-potassium/_history/2',
  ]);
});

const outputs = (task: Task | undefined, type: string): string[] =>
  (task?.output ?? []).flatMap((o) =>
    o.valueReference?.reference?.startsWith(`${type}/`) ? [o.valueReference.reference] : [],
  );
