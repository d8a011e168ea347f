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
import { createHash } from 'node:crypto';
import { labRunId } from '../../src/pipeline/trigger';
import type { LabRunJob } from '../../src/pipeline/types';
import type { TestServer } from '../helpers/server';
import { fhirFetch, startTestServer } from '../helpers/server';

const PIPELINE = 'urn:fhir-dicomweb-server:pipeline';
const QUEUE = 'clinical-pipeline';
const SYSTEM = { kind: 'system', actor: 'test', roles: ['system'] } as const;

let server: TestServer;

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

interface Record {
  bundle: Bundle;
  /** fullUrls of the critical potassium, of the values the lab flagged, and of the rest. */
  potassium: string;
  flagged: string[];
  others: string[];
}

function observation(
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
function patientRecord(tag: string): Record {
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
