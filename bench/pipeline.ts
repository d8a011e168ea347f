import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Bundle, DocumentReference, Observation, Resource, Task } from '@medplum/fhirtypes';
import { distance } from 'fastest-levenshtein';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import sharp from 'sharp';
import { rng } from './generate';
import { percentile } from './stats';
import { startServerProcess } from './server-process';

interface LabSpec {
  name: string;
  loinc: string;
  unit: string;
  low: number;
  high: number;
  /** Critical limits (the values the cohort uses to make critical results). */
  critLow?: number;
  critHigh?: number;
  decimals: number;
}

const LABS: LabSpec[] = [
  {
    name: 'Potassium',
    loinc: '2823-3',
    unit: 'mmol/L',
    low: 3.5,
    high: 5.1,
    critLow: 2.8,
    critHigh: 6.2,
    decimals: 1,
  },
  {
    name: 'Sodium',
    loinc: '2951-2',
    unit: 'mmol/L',
    low: 135,
    high: 145,
    critLow: 120,
    critHigh: 160,
    decimals: 0,
  },
  {
    name: 'Glucose',
    loinc: '2345-7',
    unit: 'mg/dL',
    low: 70,
    high: 99,
    critLow: 40,
    critHigh: 450,
    decimals: 0,
  },
  {
    name: 'Calcium',
    loinc: '17861-6',
    unit: 'mg/dL',
    low: 8.6,
    high: 10.3,
    critLow: 6.0,
    critHigh: 13.0,
    decimals: 1,
  },
  {
    name: 'Hemoglobin',
    loinc: '718-7',
    unit: 'g/dL',
    low: 12.0,
    high: 16.0,
    critLow: 6.0,
    critHigh: 20.0,
    decimals: 1,
  },
  {
    name: 'WBC',
    loinc: '6690-2',
    unit: 'K/uL',
    low: 4.0,
    high: 11.0,
    critLow: 2.0,
    critHigh: 30.0,
    decimals: 1,
  },
  {
    name: 'Platelets',
    loinc: '777-3',
    unit: 'K/uL',
    low: 150,
    high: 400,
    critLow: 20,
    critHigh: 1000,
    decimals: 0,
  },
  { name: 'Creatinine', loinc: '2160-0', unit: 'mg/dL', low: 0.6, high: 1.2, critHigh: 7.4, decimals: 1 },
];

interface LabTruth {
  loinc: string;
  value: number;
  critical: boolean;
}

interface Source {
  kind: 'image' | 'pdf' | 'note';
  patient: number;
  resource: Resource;
  text: string;
  labs: LabTruth[];
  /** SNOMED codes of red flags that should be found (affirmed or uncertain). */
  flags: string[];
  /** Red flags mentioned only negated or as history. */
  notFlags: string[];
}

function labReport(rand: () => number): { text: string; labs: LabTruth[] } {
  const tests = [...LABS].sort(() => rand() - 0.5).slice(0, 4 + Math.floor(rand() * 3));
  const criticalIndex = rand() < 0.35 ? Math.floor(rand() * tests.length) : -1;
  const labs: LabTruth[] = [];
  const lines = ['CLINICAL LABORATORY REPORT', 'Test Result Units Reference'];
  tests.forEach((t, i) => {
    let value: number;
    const critical = i === criticalIndex && (t.critHigh !== undefined || t.critLow !== undefined);
    if (critical) {
      const high = t.critLow === undefined || (t.critHigh !== undefined && rand() < 0.6);
      value = high ? (t.critHigh ?? 0) * (1.02 + rand() * 0.2) : (t.critLow ?? 0) * (0.7 + rand() * 0.25);
    } else {
      // Normal or mildly abnormal, always well inside the critical limits.
      const span = t.high - t.low;
      value = t.low - span * 0.3 + rand() * span * 1.6;
      if (t.critLow !== undefined) value = Math.max(value, t.critLow * 1.15);
      if (t.critHigh !== undefined) value = Math.min(value, t.critHigh * 0.85);
    }
    value = Number(value.toFixed(t.decimals));
    const flag = value > t.high ? 'H' : value < t.low ? 'L' : '';
    lines.push(`${t.name} ${value.toFixed(t.decimals)} ${t.unit} (${t.low}-${t.high}) ${flag}`.trim());
    labs.push({ loinc: t.loinc, value, critical });
  });
  return { text: lines.join('\n'), labs };
}

const FLAG_SENTENCES: { code: string; affirmed: string[]; uncertain: string[]; negated: string[] }[] = [
  {
    code: '36118008',
    affirmed: ['There is a small left apical pneumothorax.', 'Moderate right pneumothorax is present.'],
    uncertain: ['Possible small pneumothorax at the right apex.'],
    negated: ['No pneumothorax.', 'There is no evidence of pneumothorax.'],
  },
  {
    code: '59282003',
    affirmed: ['Filling defects consistent with pulmonary embolism in the right lower lobe arteries.'],
    uncertain: ['Pulmonary embolism cannot be excluded on this study.'],
    negated: ['Negative for pulmonary embolism.', 'Pulmonary embolism was ruled out.'],
  },
  {
    code: '91302008',
    affirmed: ['Lactate elevated and blood cultures drawn for sepsis.'],
    uncertain: ['Concern for early sepsis; start antibiotics.'],
    negated: ['No signs of sepsis.'],
  },
  {
    code: '230690007',
    affirmed: ['MRI shows an acute infarct in the left MCA territory.'],
    uncertain: ['Symptoms suspicious for stroke, imaging pending.'],
    negated: ['History of stroke in 2015 with no residual deficit.', 'Patient denies stroke symptoms.'],
  },
  {
    code: '6471006',
    affirmed: ['Patient reports suicidal ideation with a plan.'],
    uncertain: ['Possible suicidal ideation, safety screen ordered.'],
    negated: ['Denies suicidal ideation.'],
  },
];
const FILLER = [
  'The patient was seen in clinic today for follow up.',
  'Vital signs were stable and the patient was comfortable.',
  'Medications were reviewed with the patient.',
  'Plan to recheck labs in one week.',
  'The cardiac silhouette is within normal limits.',
];

function note(rand: () => number): { text: string; flags: string[]; notFlags: string[] } {
  const sentences = [FILLER[Math.floor(rand() * FILLER.length)] ?? ''];
  const flags: string[] = [];
  const notFlags: string[] = [];
  for (const f of [...FLAG_SENTENCES].sort(() => rand() - 0.5).slice(0, 1 + Math.floor(rand() * 3))) {
    const r = rand();
    const pick = (xs: string[]): string => xs[Math.floor(rand() * xs.length)] ?? '';
    if (r < 0.4) {
      sentences.push(pick(f.affirmed));
      flags.push(f.code);
    } else if (r < 0.55) {
      sentences.push(pick(f.uncertain));
      flags.push(f.code);
    } else {
      sentences.push(pick(f.negated));
      notFlags.push(f.code);
    }
  }
  sentences.push(FILLER[Math.floor(rand() * FILLER.length)] ?? '');
  return { text: sentences.join(' '), flags, notFlags };
}

const xml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The report as a scanned page: rendered, rotated up to ±2°, speckled, saved as a JPEG at quality 55. */
async function scan(text: string, rand: () => number): Promise<Buffer> {
  const lines = text.split('\n');
  const width = 1240;
  const height = 120 + lines.length * 56;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="${width}" height="${height}" fill="white"/>${lines
    .map(
      (l, i) =>
        `<text x="70" y="${90 + i * 56}" font-family="DejaVu Sans" font-size="30" fill="black">${xml(l)}</text>`,
    )
    .join('')}</svg>`;
  const { data, info } = await sharp(Buffer.from(svg))
    .rotate((rand() - 0.5) * 4, { background: '#ffffff' })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  for (let i = 0; i < data.length; i++) {
    const r = rand();
    if (r < 0.01) data[i] = 0;
    else if (r < 0.02) data[i] = 255;
    else data[i] = Math.max(0, Math.min(255, (data[i] ?? 0) + Math.round((rand() - 0.5) * 40)));
  }
  return sharp(data, { raw: { width: info.width, height: info.height, channels: 1 } })
    .jpeg({ quality: 55 })
    .toBuffer();
}

async function textPdf(text: string): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const page = pdf.addPage([595, 842]);
  text.split('\n').forEach((line, i) => {
    page.drawText(line, { x: 50, y: 790 - i * 18, size: 11, font });
  });
  return Buffer.from(await pdf.save());
}

async function scannedPdf(pages: Buffer[]): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  for (const jpeg of pages) {
    const image = await pdf.embedJpg(jpeg);
    const width = 595;
    const height = (image.height / image.width) * width;
    pdf.addPage([width, height]).drawImage(image, { x: 0, y: 0, width, height });
  }
  return Buffer.from(await pdf.save());
}

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');

async function cohort(patients: number, seed: number): Promise<Source[]> {
  const rand = rng(seed);
  const out: Source[] = [];
  for (let p = 0; p < patients; p++) {
    const a = labReport(rand);
    const b = labReport(rand);
    const n = note(rand);
    const report = (attachment: { contentType: string; data: string }): Resource => ({
      resourceType: 'DiagnosticReport',
      status: 'final',
      code: { text: 'Laboratory report' },
      presentedForm: [attachment],
    });
    out.push({
      kind: 'image',
      patient: p,
      resource: report({ contentType: 'image/jpeg', data: b64(await scan(a.text, rand)) }),
      text: a.text,
      labs: a.labs,
      flags: [],
      notFlags: [],
    });
    out.push({
      kind: 'pdf',
      patient: p,
      resource: report({ contentType: 'application/pdf', data: b64(await textPdf(b.text)) }),
      text: b.text,
      labs: b.labs,
      flags: [],
      notFlags: [],
    });
    out.push({
      kind: 'note',
      patient: p,
      resource: {
        resourceType: 'DocumentReference',
        status: 'current',
        content: [{ attachment: { contentType: 'text/plain', data: b64(n.text) } }],
      },
      text: n.text,
      labs: [],
      flags: n.flags,
      notFlags: n.notFlags,
    });
  }
  return out;
}

async function json<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const post = (fhir: string, resource: Resource): Promise<Resource> =>
  json(`${fhir}/${resource.resourceType}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify(resource),
  });

async function taskFor(fhir: string, ref: string): Promise<Task | undefined> {
  const q = encodeURIComponent(`urn:fhir-dicomweb-server:pipeline|${ref}/_history/1`);
  return (await json<Bundle<Task>>(`${fhir}/Task?identifier=${q}`)).entry?.[0]?.resource;
}

async function waitAll(fhir: string, refs: string[]): Promise<Map<string, Task>> {
  const done = new Map<string, Task>();
  while (done.size < refs.length) {
    for (const ref of refs) {
      if (done.has(ref)) continue;
      const t = await taskFor(fhir, ref);
      if (t && ['completed', 'failed', 'cancelled'].includes(t.status)) done.set(ref, t);
    }
    if (done.size < refs.length) await new Promise((r) => setTimeout(r, 500));
  }
  return done;
}

const latency = (t: Task): number =>
  new Date(t.lastModified ?? 0).getTime() - new Date(t.authoredOn ?? 0).getTime();

function ratio(hit: number, total: number): string {
  return total === 0 ? '-' : (hit / total).toFixed(3);
}

/**
 * `npm run bench -- pipeline`: a deterministic synthetic cohort (BENCH_PATIENTS, default 50: per
 * patient a scanned lab report as a noisy JPEG, a lab report PDF with a text layer, a note with
 * affirmed, uncertain, negated and historical red flags) through the server's pipeline, with 1
 * and 2 workers: OCR character error rate (noisy scans against the clean text), lab extraction,
 * critical values and red flags (precision and recall), latency from write to completed Task, and
 * runs per minute. Then ten 2-page scanned PDFs one at a time for the per-report latency.
 */
export async function pipelineBench(): Promise<void> {
  const patients = Number(process.env.BENCH_PATIENTS ?? 50);
  const sources = await cohort(patients, 20261123);
  console.log(
    `pipeline: ${patients} patients, ${sources.length} sources (${sources.filter((s) => s.kind === 'image').length} scanned images, ${sources.filter((s) => s.kind === 'pdf').length} PDFs, ${sources.filter((s) => s.kind === 'note').length} notes)`,
  );
  const rates: number[] = [];
  for (const workers of [1, 2]) {
    const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'pipeline-bench-'));
    const server = await startServerProcess({
      DATABASE_URL: 'memory',
      DATA_DIR: dataDir,
      WORKER_CONCURRENCY: String(workers),
      JOB_POLL_SECONDS: '0.5',
    });
    const fhir = `${server.url}/fhir`;
    try {
      const refs: string[] = [];
      const patientIds: string[] = [];
      for (let p = 0; p < patients; p++)
        patientIds.push((await post(fhir, { resourceType: 'Patient' })).id ?? '');
      const started = Date.now();
      for (const s of sources) {
        const body = {
          ...s.resource,
          subject: { reference: `Patient/${patientIds[s.patient] ?? ''}` },
        } as Resource;
        const created = await post(fhir, body);
        refs.push(`${created.resourceType}/${created.id ?? ''}`);
      }
      const tasks = await waitAll(fhir, refs);
      const minutes = (Date.now() - started) / 60_000;
      rates.push(sources.length / minutes);
      const latencies = [...tasks.values()].map(latency);
      console.log(
        `  ${workers} worker(s): ${(sources.length / minutes).toFixed(1)} runs/min; write→completed p50 ${(percentile(latencies, 50) / 1000).toFixed(1)} s, p95 ${(percentile(latencies, 95) / 1000).toFixed(1)} s (all ${sources.length} written at once, so this includes queueing); failed ${[...tasks.values()].filter((t) => t.status !== 'completed').length}`,
      );
      if (workers === 1) await quality(fhir, sources, refs, tasks);
      if (workers === 1) await scannedLatency(fhir, patientIds[0] ?? '');
    } finally {
      await server.stop();
      await fsp.rm(dataDir, { recursive: true, force: true });
    }
  }
  console.log(`  ratio 2 workers / 1 worker: ${((rates[1] ?? 0) / (rates[0] ?? 1)).toFixed(2)} (2 cores)`);
}

async function quality(
  fhir: string,
  sources: Source[],
  refs: string[],
  tasks: Map<string, Task>,
): Promise<void> {
  let cerEdits = 0;
  let cerChars = 0;
  const lab = { found: 0, correct: 0, expected: 0, recalled: 0 };
  const crit = { found: 0, correct: 0, expected: 0, recalled: 0, falseOnClean: 0 };
  const flag = { found: 0, correct: 0, expected: 0, recalled: 0, negatedFlagged: 0, negated: 0 };
  const norm = (s: string): string => s.replace(/\s+/g, ' ').trim();
  for (const [i, s] of sources.entries()) {
    const task = tasks.get(refs[i] ?? '');
    const outputs = await Promise.all(
      (task?.output ?? [])
        .flatMap((o) => (o.valueReference?.reference ? [o.valueReference.reference] : []))
        .map((r) => json<Resource>(`${fhir}/${r}`)),
    );
    const docs = outputs.filter((o): o is DocumentReference => o.resourceType === 'DocumentReference');
    const obs = outputs.filter((o): o is Observation => o.resourceType === 'Observation');
    if (s.kind === 'image') {
      const extracted = docs.find((d) => d.type?.text === 'Extracted text');
      const ocr = Buffer.from(extracted?.content[0]?.attachment.data ?? '', 'base64').toString();
      cerEdits += distance(norm(ocr), norm(s.text));
      cerChars += norm(s.text).length;
    }
    if (s.kind !== 'note') {
      const values = obs.filter((o) => o.code.coding?.[0]?.system === 'http://loinc.org');
      lab.found += values.length;
      lab.expected += s.labs.length;
      for (const v of values) {
        const truth = s.labs.find((l) => l.loinc === v.code.coding?.[0]?.code);
        // WBC and platelets print in K/uL, which the catalogue keeps as 10*3/uL: the same number.
        if (truth && Math.abs((v.valueQuantity?.value ?? NaN) - truth.value) < 1e-6) lab.correct++;
      }
      const missed = s.labs.filter(
        (l) =>
          !values.some(
            (v) =>
              v.code.coding?.[0]?.code === l.loinc &&
              Math.abs((v.valueQuantity?.value ?? NaN) - l.value) < 1e-6,
          ),
      );
      lab.recalled += s.labs.length - missed.length;
      // BENCH_VERBOSE=1 shows what was missed and what the run listed for review (synthetic data).
      if (process.env.BENCH_VERBOSE && missed.length > 0)
        console.log(
          `    ${s.kind} missed ${missed.map((m) => `${m.loinc}=${m.value}`).join(', ')}; review: ${(
            task?.output ?? []
          )
            .flatMap((o) => (o.valueString ? [o.valueString] : []))
            .join(' | ')}; read: ${JSON.stringify(
            Buffer.from(
              docs.find((d) => d.type?.text === 'Extracted text')?.content[0]?.attachment.data ?? '',
              'base64',
            ).toString(),
          )}`,
        );
      const flagged = obs.filter((o) => o.code.coding?.[0]?.code === 'critical-lab-value');
      const criticalLoincs = s.labs.filter((l) => l.critical).map((l) => l.loinc);
      crit.found += flagged.length;
      crit.expected += criticalLoincs.length;
      const flaggedLoincs = await Promise.all(
        flagged.map(async (f) => {
          const lab = await json<Observation>(`${fhir}/${f.derivedFrom?.[0]?.reference ?? ''}`);
          return lab.code.coding?.[0]?.code ?? '';
        }),
      );
      crit.correct += flaggedLoincs.filter((l) => criticalLoincs.includes(l)).length;
      crit.recalled += criticalLoincs.filter((l) => flaggedLoincs.includes(l)).length;
      if (criticalLoincs.length === 0) crit.falseOnClean += flagged.length;
    } else {
      const codes = obs
        .filter((o) => o.code.coding?.[0]?.system === 'http://snomed.info/sct')
        .map((o) => o.code.coding?.[0]?.code ?? '');
      flag.found += codes.length;
      flag.expected += s.flags.length;
      flag.correct += codes.filter((c) => s.flags.includes(c)).length;
      flag.recalled += s.flags.filter((c) => codes.includes(c)).length;
      flag.negated += s.notFlags.length;
      flag.negatedFlagged += s.notFlags.filter((c) => codes.includes(c) && !s.flags.includes(c)).length;
    }
  }
  console.log(
    `  OCR character error rate (noisy, rotated JPEG scans): ${((100 * cerEdits) / cerChars).toFixed(2)} % over ${cerChars} characters`,
  );
  console.log(
    `  lab values: precision ${ratio(lab.correct, lab.found)}, recall ${ratio(lab.recalled, lab.expected)} (${lab.expected} printed)`,
  );
  console.log(
    `  critical values: precision ${ratio(crit.correct, crit.found)}, recall ${ratio(crit.recalled, crit.expected)} (${crit.expected} critical); false critical on reports without one: ${crit.falseOnClean}`,
  );
  console.log(
    `  red flags: precision ${ratio(flag.correct, flag.found)}, recall ${ratio(flag.recalled, flag.expected)} (${flag.expected} affirmed or uncertain); negated or historical mentions flagged: ${flag.negatedFlagged} of ${flag.negated}`,
  );
}

/** Ten 2-page scanned reports (PDF without a text layer), one at a time: write → completed Task. */
async function scannedLatency(fhir: string, patient: string): Promise<void> {
  const rand = rng(7);
  const latencies: number[] = [];
  for (let i = 0; i < 10; i++) {
    const pdf = await scannedPdf([
      await scan(labReport(rand).text, rand),
      await scan(labReport(rand).text, rand),
    ]);
    const created = await post(fhir, {
      resourceType: 'DiagnosticReport',
      status: 'final',
      code: { text: 'Scanned laboratory report' },
      subject: { reference: `Patient/${patient}` },
      presentedForm: [{ contentType: 'application/pdf', data: b64(pdf) }],
    });
    const [task] = (await waitAll(fhir, [`DiagnosticReport/${created.id ?? ''}`])).values();
    if (task) latencies.push(latency(task));
  }
  console.log(
    `  2-page scanned PDF, one at a time: write→completed p50 ${(percentile(latencies, 50) / 1000).toFixed(1)} s, p95 ${(percentile(latencies, 95) / 1000).toFixed(1)} s`,
  );
}
