import type {
  Bundle,
  Composition,
  DiagnosticReport,
  DocumentReference,
  Observation,
  Provenance,
  Task,
} from '@medplum/fhirtypes';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import sharp from 'sharp';
import type { TestServer } from '../helpers/server';
import { fhirFetch, startTestServer } from '../helpers/server';

let server: TestServer;
let patientId = '';
const PIPELINE = 'urn:fhir-dicomweb-server:pipeline';

const REPORT = [
  'BASIC METABOLIC PANEL',
  'Potassium 6.8 mmol/L (3.5-5.1) H',
  'Sodium 138 mmol/L (135-145)',
  'Glucose 5.5 mmol/L (3.9-5.5)',
  'Hemoglobin 130 g/L (120-160)',
  'K+: 68 mmol/L',
].join('\n');

function report(attachment: DiagnosticReport['presentedForm']): DiagnosticReport {
  return {
    resourceType: 'DiagnosticReport',
    status: 'final',
    code: { text: 'Basic metabolic panel' },
    subject: { reference: `Patient/${patientId}` },
    presentedForm: attachment,
  };
}

/** A current DocumentReference holding `note` as plain text. */
function textDocument(note: string, patient = patientId): DocumentReference {
  return {
    resourceType: 'DocumentReference',
    status: 'current',
    subject: { reference: `Patient/${patient}` },
    content: [{ attachment: { contentType: 'text/plain', data: Buffer.from(note).toString('base64') } }],
  };
}

/** A lab report PDF with a user password, encrypted (AES-256) by Debian's qpdf. */
async function encryptedPdf(): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  pdf.addPage().drawText('Potassium 6.8 mmol/L (3.5-5.1) H', { x: 50, y: 700, size: 12 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enc-'));
  try {
    fs.writeFileSync(path.join(dir, 'in.pdf'), await pdf.save());
    execFileSync('qpdf', ['--encrypt', 'user-secret', 'owner-secret', '256', '--', 'in.pdf', 'out.pdf'], {
      cwd: dir,
    });
    return fs.readFileSync(path.join(dir, 'out.pdf'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A PNG that says it is 20000×20000 (its header is all a reader needs to refuse it). */
function hugePng(): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body) >>> 0);
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(20000, 0);
  header.writeUInt32BE(20000, 4);
  header[8] = 8; // bit depth; colour type 0 (grey)
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(20001 * 16))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const text = (s: string): DiagnosticReport['presentedForm'] => [
  { contentType: 'text/plain', data: Buffer.from(s).toString('base64') },
];

/** The run's Task for a source version, once it is no longer requested or in progress. */
async function finishedTask(source: string, version = 1): Promise<Task> {
  const query = `Task?identifier=${encodeURIComponent(`${PIPELINE}|${source}/_history/${version}`)}`;
  for (let i = 0; i < 240; i++) {
    const bundle = (await fhirFetch(server, query)).body as Bundle<Task>;
    const task = bundle.entry?.[0]?.resource;
    if (task && !['requested', 'in-progress'].includes(task.status)) return task;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${source} never finished`);
}

async function read<T>(ref: string | undefined): Promise<T> {
  const res = await fhirFetch(server, ref ?? '');
  expect(res.status).toBe(200);
  return res.body as T;
}

const outputsOf = (task: Task, type: string): string[] =>
  (task.output ?? []).flatMap((o) =>
    o.valueReference?.reference?.startsWith(`${type}/`) ? [o.valueReference.reference] : [],
  );

beforeAll(async () => {
  server = await startTestServer({
    jobPollSeconds: 0.5,
    deidKey: { id: 'pipeline-test', secret: 'pipeline-test-secret-long-enough' },
  });
  patientId = (
    await fhirFetch(server, 'Patient', { body: { resourceType: 'Patient', birthDate: '1950-01-01' } })
  ).body.id;
});
afterAll(async () => {
  await server.close();
});

test('a lab report becomes text, coded values and a critical finding, each traceable to the report', async () => {
  const dr = await fhirFetch(server, 'DiagnosticReport', { body: report(text(REPORT)) });
  expect(dr.status).toBe(201);
  const task = await finishedTask(`DiagnosticReport/${dr.body.id}`);
  expect(task.status).toBe('completed');
  expect(task.focus?.reference).toBe(`DiagnosticReport/${dr.body.id}/_history/1`);
  expect(task.for?.reference).toBe(`Patient/${patientId}`);
  // Clients find a source's runs with plain searches.
  for (const query of [
    `Task?focus=DiagnosticReport/${dr.body.id}`,
    `Task?patient=Patient/${patientId}&status=completed`,
  ]) {
    const found = (await fhirFetch(server, query)).body as Bundle<Task>;
    expect([query, found.entry?.some((e) => e.resource?.id === task.id)]).toEqual([query, true]);
  }

  const [textRef] = outputsOf(task, 'DocumentReference');
  const doc = await read<DocumentReference>(textRef);
  expect(Buffer.from(doc.content[0]?.attachment.data ?? '', 'base64').toString()).toBe(REPORT);
  expect(doc.context?.related?.[0]?.reference).toBe(`DiagnosticReport/${dr.body.id}/_history/1`);

  const observations = await Promise.all(outputsOf(task, 'Observation').map((r) => read<Observation>(r)));
  const byCode = (code: string): Observation[] =>
    observations.filter((o) => o.code.coding?.some((c) => c.code === code));
  const [k] = byCode('2823-3');
  expect(k?.valueQuantity).toMatchObject({ value: 6.8, code: 'mmol/L', system: 'http://unitsofmeasure.org' });
  expect(k?.interpretation?.[0]?.coding?.[0]?.code).toBe('H');
  expect(k?.referenceRange?.[0]).toMatchObject({ low: { value: 3.5 }, high: { value: 5.1 } });
  expect(k?.derivedFrom?.[0]?.reference).toBe(textRef);
  // Other units are converted to the catalogue's: glucose to mg/dL, hemoglobin to g/dL.
  expect(byCode('2345-7')[0]?.valueQuantity).toMatchObject({ value: 99.088, code: 'mg/dL' });
  expect(byCode('718-7')[0]?.valueQuantity).toMatchObject({ value: 13, code: 'g/dL' });
  expect(byCode('2951-2')[0]?.interpretation?.[0]?.coding?.[0]?.code).toBe('N');
  // "K+: 68" is not a potassium anyone lives with: listed for review, not stored.
  expect(byCode('2823-3')).toHaveLength(1);
  expect(task.output?.filter((o) => o.type.text === 'review').map((o) => o.valueString)).toEqual([
    expect.stringMatching(/K\+: 68 mmol\/L.*outside plausible bounds/),
  ]);

  const critical = byCode('critical-lab-value');
  expect(critical).toHaveLength(1);
  expect(critical[0]?.interpretation?.[0]?.coding?.[0]?.code).toBe('HH');
  expect(critical[0]?.meta?.profile).toEqual([
    'urn:fhir-dicomweb-server:StructureDefinition/critical-finding',
  ]);
  const kRef = outputsOf(task, 'Observation').find((r) => r.endsWith(k?.id ?? '-'));
  // The finding conforms to the profile published in profiles/critical-finding.json ...
  const profileUrl = 'urn:fhir-dicomweb-server:StructureDefinition/critical-finding';
  const errors = async (o: Observation): Promise<string[]> =>
    (
      (
        await fhirFetch(server, `Observation/$validate?profile=${encodeURIComponent(profileUrl)}`, {
          body: o,
        })
      ).body as {
        issue: { severity: string; expression?: string[] }[];
      }
    ).issue
      .filter((i) => i.severity === 'error')
      .flatMap((i) => i.expression ?? ['?']);
  expect(await errors(critical[0] as Observation)).toEqual([]);
  // ... which a finding without its evidence or interpretation does not.
  const { derivedFrom: _d, interpretation: _i, ...bare } = critical[0] as Observation;
  expect(await errors(bare)).toEqual(
    expect.arrayContaining([expect.stringMatching(/derivedFrom/), expect.stringMatching(/interpretation/)]),
  );
  expect(critical[0]?.derivedFrom?.[0]?.reference).toBe(kRef);

  // From the finding back to the file: Provenance names the report and the value as sources.
  const provs = (await fhirFetch(server, `Provenance?target=Observation/${critical[0]?.id ?? ''}/_history/1`))
    .body as Bundle<Provenance>;
  const prov = provs.entry?.[0]?.resource;
  expect(prov?.entity?.map((e) => e.what.reference)).toEqual([
    `DiagnosticReport/${dr.body.id}/_history/1`,
    kRef,
  ]);
  expect(prov?.agent[0]?.who?.reference).toMatch(/^Device\/clinical-pipeline\/_history\/\d+$/);
  const audits = (await fhirFetch(server, `AuditEvent?entity=Task/${task.id ?? ''}`)).body as Bundle;
  expect(audits.entry?.length).toBe(5);
});

test('a job delivered again (at-least-once) writes nothing twice, even when it runs every stage again', async () => {
  const dr = await fhirFetch(server, 'DiagnosticReport', {
    body: report(text('Sodium 119 mmol/L (135-145) L')),
  });
  const source = `DiagnosticReport/${dr.body.id}`;
  const done = await finishedTask(source);
  const versions = async (): Promise<string[]> =>
    Promise.all(
      (done.output ?? []).map(
        async (o) =>
          `${o.valueReference?.reference ?? ''}@${(await read<Observation>(o.valueReference?.reference)).meta?.versionId ?? ''}`,
      ),
    );
  const before = await versions();
  const provenances = (await fhirFetch(server, 'Provenance?_summary=count')).body.total as number;
  // As if the worker died after its commit but before the queue heard of it: the same job again,
  // first with the Task still marked in progress, so every stage really runs a second time.
  await server.repo.update(
    { kind: 'system', actor: 'test', roles: ['system'] },
    { ...done, status: 'in-progress' },
  );
  await server.jobs.send('clinical-pipeline', {
    task: done.id,
    source: { type: 'DiagnosticReport', id: dr.body.id, versionId: 1 },
  });
  const again = await finishedTask(source);
  expect(again.status).toBe('completed');
  expect(await versions()).toEqual(before);
  expect((await fhirFetch(server, 'Provenance?_summary=count')).body.total).toBe(provenances);
});

test('a new version of the report makes new versions of its outputs, not new resources', async () => {
  const dr = await fhirFetch(server, 'DiagnosticReport', {
    body: report(text('Potassium 6.9 mmol/L (3.5-5.1) H')),
  });
  const first = await finishedTask(`DiagnosticReport/${dr.body.id}`);
  const update = await fhirFetch(server, `DiagnosticReport/${dr.body.id}`, {
    method: 'PUT',
    body: { ...report(text('Potassium 7.1 mmol/L (3.5-5.1) H')), id: dr.body.id },
  });
  expect(update.status).toBe(200);
  const second = await finishedTask(`DiagnosticReport/${dr.body.id}`, 2);
  expect(outputsOf(second, 'Observation').sort()).toEqual(outputsOf(first, 'Observation').sort());
  for (const ref of outputsOf(second, 'Observation')) {
    const o = await read<Observation>(ref);
    expect(o.meta?.versionId).toBe('2');
    expect(o.valueQuantity?.value).toBe(7.1);
  }
});

test('a lab Observation written directly is checked too; a low critical value is LL', async () => {
  const obs: Observation = {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '2823-3' }] },
    subject: { reference: `Patient/${patientId}` },
    valueQuantity: { value: 2.1, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
  };
  const created = await fhirFetch(server, 'Observation', { body: obs });
  const task = await finishedTask(`Observation/${created.body.id}`);
  expect(task.status).toBe('completed');
  const [flag] = await Promise.all(outputsOf(task, 'Observation').map((r) => read<Observation>(r)));
  expect(flag?.interpretation?.[0]?.coding?.[0]?.code).toBe('LL');
  expect(flag?.derivedFrom?.[0]?.reference).toBe(`Observation/${created.body.id}/_history/1`);
});

test('PDFs: the text layer is read; a scanned page is read by OCR', async () => {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const page = pdf.addPage([595, 842]);
  REPORT.split('\n').forEach((line, i) => {
    page.drawText(line, { x: 50, y: 780 - i * 20, size: 12, font });
  });
  const layered = await fhirFetch(server, 'DiagnosticReport', {
    body: report([
      { contentType: 'application/pdf', data: Buffer.from(await pdf.save()).toString('base64') },
    ]),
  });
  const t1 = await finishedTask(`DiagnosticReport/${layered.body.id}`);
  expect(t1.status).toBe('completed');
  expect(outputsOf(t1, 'Observation')).toHaveLength(5);

  // The same report as a picture inside a PDF: no text layer, so pdftoppm and tesseract read it.
  const lines = REPORT.split('\n').slice(0, 3);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="1240" height="400"><rect width="1240" height="400" fill="white"/>${lines
    .map(
      (l, i) =>
        `<text x="60" y="${80 + i * 60}" font-family="DejaVu Sans" font-size="36" fill="black">${l}</text>`,
    )
    .join('')}</svg>`;
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  const scan = await PDFDocument.create();
  const image = await scan.embedPng(png);
  scan.addPage([595, 192]).drawImage(image, { x: 0, y: 0, width: 595, height: 192 });
  const scanned = await fhirFetch(server, 'DiagnosticReport', {
    body: report([
      { contentType: 'application/pdf', data: Buffer.from(await scan.save()).toString('base64') },
    ]),
  });
  const t2 = await finishedTask(`DiagnosticReport/${scanned.body.id}`);
  expect(t2.status).toBe('completed');
  // A searchable PDF of the scan: the page image, with the words OCR read as an invisible layer.
  const docs = await Promise.all(outputsOf(t2, 'DocumentReference').map((r) => read<DocumentReference>(r)));
  // The extracted text keeps each OCR word's confidence and box beside it.
  const extracted = docs.find((d) => d.type?.text === 'Extracted text');
  const ocrWords = JSON.parse(
    Buffer.from(extracted?.content[1]?.attachment.data ?? '', 'base64').toString(),
  ) as {
    text: string;
    confidence: number;
    bbox: { x0: number };
  }[][];
  expect(ocrWords[0]?.find((w) => w.text === 'Potassium')?.confidence).toBeGreaterThan(50);
  const searchable = docs.find((d) => d.type?.text === 'Searchable PDF');
  const bytes = Buffer.from(searchable?.content[0]?.attachment.data ?? '', 'base64');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pdfjs = require('pdfjs-dist/legacy/build/pdf.js') as {
    getDocument(src: { data: Uint8Array; verbosity: number }): { promise: Promise<any> };
    OPS: Record<string, number>;
  };
  const doc = await pdfjs.getDocument({ data: new Uint8Array(bytes), verbosity: 0 }).promise;
  const first = await doc.getPage(1);
  const words = ((await first.getTextContent()).items as { str: string }[]).map((i) => i.str).join(' ');
  expect(words).toMatch(/Potassium.*6\.8/);
  const ops = (await first.getOperatorList()).fnArray as number[];
  expect(ops).toContain(pdfjs.OPS.paintImageXObject);
  await doc.destroy();
  const values = await Promise.all(outputsOf(t2, 'Observation').map((r) => read<Observation>(r)));
  expect(values.map((o) => [o.code.coding?.[0]?.code, o.valueQuantity?.value]).sort()).toEqual(
    [
      ['2823-3', 6.8],
      ['2951-2', 138],
      ['critical-lab-value', 6.8],
    ].sort(),
  );
});

test('bad input fails its own run with a clear reason and no outputs; a rolled-back write starts nothing', async () => {
  const cases: [string, DiagnosticReport['presentedForm'], RegExp][] = [
    ['empty', [{ contentType: 'text/plain', data: '' }], /presentedForm\[0\] is empty/],
    [
      'corrupt pdf',
      [{ contentType: 'application/pdf', data: Buffer.from('%PDF-1.7\nnot really').toString('base64') }],
      /not a readable PDF/,
    ],
    [
      'wrong type',
      [{ contentType: 'application/zip', data: Buffer.from('PK\u0003\u0004').toString('base64') }],
      /is not text, PDF or an image/,
    ],
    ['huge image', [{ contentType: 'image/png', data: hugePng().toString('base64') }], /20000×20000 pixels/],
  ];
  cases.push(
    [
      'encrypted pdf',
      [{ contentType: 'application/pdf', data: (await encryptedPdf()).toString('base64') }],
      /encrypted PDF/,
    ],
    [
      'german',
      text(
        'Der Patient wurde heute in der Notaufnahme gesehen. Kalium 6,8 mmol/l erhöht. Die Nierenfunktion ist eingeschränkt, eine Kontrolle der Elektrolyte wird morgen empfohlen. Keine Hinweise auf einen Pneumothorax. Der Patient ist wach und orientiert und hat keine Schmerzen.',
      ),
      /does not appear to be English/,
    ],
    ['chinese', text('患者今日于急诊就诊。血钾6.8毫摩尔每升，升高。'), /non-Latin script/],
  );
  for (const [name, form, reason] of cases) {
    const dr = await fhirFetch(server, 'DiagnosticReport', { body: report(form) });
    const task = await finishedTask(`DiagnosticReport/${dr.body.id}`);
    expect([name, task.status]).toEqual([name, 'failed']);
    expect(task.statusReason?.text).toMatch(reason);
    expect(task.output).toEqual([{ type: { text: 'failure' }, valueReference: { reference: '#failure' } }]);
    expect((task.contained?.[0] as { issue: { diagnostics: string }[] }).issue[0]?.diagnostics).toMatch(
      reason,
    );
  }

  const tasks = async (): Promise<number> =>
    (await fhirFetch(server, 'Task?_summary=count')).body.total as number;
  const before = await tasks();
  const tx = await fhirFetch(server, '', {
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: report(text(REPORT)), request: { method: 'POST', url: 'DiagnosticReport' } },
        {
          resource: { resourceType: 'Observation', status: 'bogus' },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    },
  });
  expect(tx.status).toBeGreaterThanOrEqual(400);
  expect(await tasks()).toBe(before);
});

test('a source stays deletable after its run; a de-identified compartment has its findings, not the Tasks', async () => {
  const doc = await fhirFetch(server, 'DocumentReference', { body: textDocument('Sodium 118 mmol/L') });
  const task = await finishedTask(`DocumentReference/${doc.body.id}`);
  expect(task.status).toBe('completed');
  // Its text output refers to the version it came from, so the document can still be deleted.
  expect((await fhirFetch(server, `DocumentReference/${doc.body.id}`, { method: 'DELETE' })).status).toBe(
    200,
  );
});

test('red flags in a de-identified report: affirmed, uncertain, and negated or historical ones left out', async () => {
  const note = [
    'CHEST CT. Called to Dr. Hope Whitfield at 217-555-0142 on 03/04/2024.',
    'FINDINGS: Large right tension pneumothorax with mediastinal shift.',
    'No evidence of pulmonary embolism. History of stroke.',
    'Possible early sepsis.',
  ].join('\n');
  const doc = await fhirFetch(server, 'DocumentReference', { body: textDocument(note) });
  const task = await finishedTask(`DocumentReference/${doc.body.id}`);
  expect(task.status).toBe('completed');
  const docs = await Promise.all(outputsOf(task, 'DocumentReference').map((r) => read<DocumentReference>(r)));
  const deid = docs.find((d) => d.type?.text === 'De-identified text');
  const attachment = deid?.content[0]?.attachment;
  const bytes = Buffer.from(attachment?.data ?? '', 'base64');
  const deidText = bytes.toString();
  // Size and sha-1 hash as R4 defines them, so a reader can check what it got.
  expect(attachment?.size).toBe(bytes.length);
  expect(attachment?.hash).toBe(createHash('sha1').update(bytes).digest('base64'));
  for (const phi of ['Whitfield', '555-0142', '03/04/2024']) expect(deidText).not.toContain(phi);
  expect(deid?.relatesTo?.[0]).toMatchObject({ code: 'transforms' });

  const findings = await Promise.all(outputsOf(task, 'Observation').map((r) => read<Observation>(r)));
  const summary = findings.map((f) => [f.code.coding?.[0]?.code, f.interpretation?.[0]?.coding?.[0]?.code]);
  expect(summary.sort()).toEqual(
    [
      ['36118008', 'AA'], // pneumothorax, affirmed
      ['91302008', 'A'], // sepsis, possible
    ].sort(),
  );
  const pneumothorax = findings.find((f) => f.code.coding?.[0]?.code === '36118008');
  expect(pneumothorax?.derivedFrom?.[0]?.reference).toBe(`DocumentReference/${deid?.id ?? ''}`);
  const span = pneumothorax?.extension?.find((e) => e.url.endsWith('text-span'))?.extension ?? [];
  const start = span.find((e) => e.url === 'start')?.valueInteger ?? -1;
  const end = span.find((e) => e.url === 'end')?.valueInteger ?? -1;
  expect(deidText.slice(start, end)).toBe('tension pneumothorax');
});

test('one summary per patient and per encounter: ordered sections, severity classes, sentences that lead back to the file', async () => {
  const patient = (
    await fhirFetch(server, 'Patient', { body: { resourceType: 'Patient', birthDate: '1961-06-01' } })
  ).body.id as string;
  const encounter = (
    await fhirFetch(server, 'Encounter', {
      body: {
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
        subject: { reference: `Patient/${patient}` },
      },
    })
  ).body.id as string;
  const labs = await fhirFetch(server, 'DiagnosticReport', {
    body: {
      ...report(text('Potassium 6.8 mmol/L (3.5-5.1) H\nSodium 130 mmol/L (135-145) L')),
      subject: { reference: `Patient/${patient}` },
      encounter: { reference: `Encounter/${encounter}` },
    },
  });
  const note = [
    'Seen by Dr. Hope Whitfield in the emergency department.',
    'The patient has a large right tension pneumothorax with mediastinal shift.',
    'A chest tube was placed and the lung re-expanded on the repeat film.',
    'There is no evidence of pulmonary embolism on the CT angiogram.',
  ].join(' ');
  const doc = await fhirFetch(server, 'DocumentReference', { body: textDocument(note, patient) });
  await finishedTask(`DiagnosticReport/${labs.body.id}`);
  const last = await finishedTask(`DocumentReference/${doc.body.id}`);
  expect(last.status).toBe('completed');

  const found = (await fhirFetch(server, `Composition?subject=Patient/${patient}`))
    .body as Bundle<Composition>;
  const compositions = (found.entry ?? []).map((e) => e.resource as Composition);
  expect(compositions).toHaveLength(2);
  const whole = compositions.find((c) => !c.encounter);
  const visit = compositions.find((c) => c.encounter?.reference === `Encounter/${encounter}`);
  expect(whole?.status).toBe('preliminary');
  // Two runs fed it: the second made a new version of the same Composition, not a second one.
  expect(Number(whole?.meta?.versionId)).toBeGreaterThanOrEqual(2);
  expect(whole?.section?.map((s) => s.title)).toEqual([
    'Critical findings',
    'Abnormal labs',
    'Reports and notes',
    'Imaging',
  ]);
  const [critical, abnormal, notes, imaging] = whole?.section ?? [];
  expect(critical?.text?.div).toContain('class="critical"');
  expect(critical?.entry?.length).toBeGreaterThanOrEqual(2); // the potassium and the pneumothorax, with their evidence
  expect(abnormal?.text?.div).toContain('class="abnormal"');
  expect(imaging?.emptyReason?.coding?.[0]?.code).toBe('nilknown');
  expect(notes?.text?.div).toContain('tension pneumothorax');
  expect(JSON.stringify(whole)).not.toContain('Whitfield');
  // The encounter's summary holds the encounter's lab report, not the note written outside it.
  const cites = (c: Composition | undefined): string[] => [
    ...new Set((c?.section?.[2]?.entry ?? []).map((e) => e.reference ?? '')),
  ];
  expect(cites(whole)).toHaveLength(2);
  expect(cites(visit)).toHaveLength(1);
  expect(cites(whole)).toContain(cites(visit)[0]);
  expect(visit?.section?.[2]?.text?.div).not.toContain('pneumothorax');
  expect(visit?.section?.[0]?.entry?.length).toBeGreaterThanOrEqual(1);

  // From a sentence back to the original file.
  const cited = cites(whole).find((r) => r !== cites(visit)[0]);
  const deid = await read<DocumentReference>(cited);
  const extracted = await read<DocumentReference>(deid.relatesTo?.[0]?.target.reference);
  const original = await read<DocumentReference>(extracted.context?.related?.[0]?.reference);
  expect(Buffer.from(original.content[0]?.attachment.data ?? '', 'base64').toString()).toBe(note);

  const document = await fhirFetch(server, `Composition/${whole?.id ?? ''}/$document`);
  expect(document.status).toBe(200);
  const bundle = document.body as Bundle;
  expect(bundle.type).toBe('document');
  expect(bundle.entry?.[0]?.resource?.resourceType).toBe('Composition');
  const included = new Set(
    bundle.entry?.map((e) => `${e.resource?.resourceType ?? ''}/${e.resource?.id ?? ''}`),
  );
  expect(included.has(`Patient/${patient}`)).toBe(true);
  expect(included.has('Device/clinical-pipeline')).toBe(true);
  for (const s of whole?.section ?? [])
    for (const e of s.entry ?? [])
      expect([e.reference, included.has(e.reference ?? '')]).toEqual([e.reference, true]);
  // $document is routed on Composition instances only.
  expect((await fhirFetch(server, `Patient/${patient}/$document`)).status).toBe(404);
});

test('a report whose PDF is a Binary: the Binary is part of it, and a new version of the Binary reruns the report', async () => {
  const binary = await fhirFetch(server, 'Binary', {
    body: {
      resourceType: 'Binary',
      contentType: 'text/plain',
      data: Buffer.from('Potassium 4.0 mmol/L (3.5-5.1)').toString('base64'),
    },
  });
  const dr = await fhirFetch(server, 'DiagnosticReport', {
    body: report([{ contentType: 'text/plain', url: `Binary/${binary.body.id}` }]),
  });
  const first = await finishedTask(`DiagnosticReport/${dr.body.id}`);
  const [k] = await Promise.all(outputsOf(first, 'Observation').map((r) => read<Observation>(r)));
  expect(k?.valueQuantity?.value).toBe(4);
  // The Binary cannot be deleted from under its report ...
  expect((await fhirFetch(server, `Binary/${binary.body.id}`, { method: 'DELETE' })).status).toBe(409);
  // ... and its new version runs the report again: the same Observation, a new version of it.
  const update = await fhirFetch(server, `Binary/${binary.body.id}`, {
    method: 'PUT',
    body: {
      resourceType: 'Binary',
      id: binary.body.id,
      contentType: 'text/plain',
      data: Buffer.from('Potassium 6.6 mmol/L (3.5-5.1) H').toString('base64'),
    },
  });
  expect(update.status).toBe(200);
  const query = `Task?identifier=${encodeURIComponent(`${PIPELINE}|DiagnosticReport/${dr.body.id}/_history/1;Binary/${binary.body.id}/_history/2`)}`;
  let rerun: Task | undefined;
  for (let i = 0; i < 120 && rerun?.status !== 'completed'; i++) {
    rerun = ((await fhirFetch(server, query)).body as Bundle<Task>).entry?.[0]?.resource;
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(rerun?.input?.[0]?.valueReference?.reference).toBe(`Binary/${binary.body.id}/_history/2`);
  const after = await read<Observation>(outputsOf(first, 'Observation')[0]);
  expect(after.valueQuantity?.value).toBe(6.6);
  expect(after.meta?.versionId).toBe('2');
  expect(outputsOf(rerun as Task, 'Observation').some((r) => r.includes(k?.id ?? '-'))).toBe(true);
});

test('a failure that is not the input (a lost blob) is retried with backoff, then the Task fails with the reason', async () => {
  const binary = await fhirFetch(server, 'Binary', {
    body: {
      resourceType: 'Binary',
      contentType: 'text/plain',
      data: Buffer.from('Sodium 140 mmol/L').toString('base64'),
    },
  });
  // The blob store (content-addressed by SHA-256) loses the file under the Binary, as on a disk
  // fault: reading it fails on every attempt, and it is not the input's fault.
  const hash = createHash('sha256').update('Sodium 140 mmol/L').digest('hex');
  fs.rmSync(path.join(server.dataDir, 'blobs', 'sha256', hash.slice(0, 2), hash));
  const dr = await fhirFetch(server, 'DiagnosticReport', {
    body: report([{ contentType: 'text/plain', url: `Binary/${binary.body.id}` }]),
  });
  const source = `DiagnosticReport/${dr.body.id}`;
  const seen = new Set<string>();
  let task: Task | undefined;
  for (let i = 0; i < 240 && task?.status !== 'failed'; i++) {
    const q = `Task?identifier=${encodeURIComponent(`${PIPELINE}|${source}/_history/1`)}`;
    task = ((await fhirFetch(server, q)).body as Bundle<Task>).entry?.[0]?.resource;
    if (task?.businessStatus?.text) seen.add(task.businessStatus.text);
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(task?.status).toBe('failed');
  expect(task?.statusReason?.text).toMatch(/after 4 attempts/);
  expect([...seen].some((s) => s.startsWith('retrying'))).toBe(true);
  expect(outputsOf(task as Task, 'Observation')).toEqual([]);
}, 120_000);
