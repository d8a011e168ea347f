import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadConfig } from '../src/config';
import { startServer } from '../src/server';
import { createLogger } from '../src/shared';
import { patientRecord, rng } from './generate';
import { rawCopy } from './raw-copy';
import { timed } from './stats';

const QUEUE = 'clinical-pipeline';

/**
 * The clients, on a thread of their own so the server's event loop is not theirs: `concurrency`
 * connections posting the prepared bodies in turn, each answer read to the end.
 */
const CLIENTS = `
const { workerData, parentPort } = require('node:worker_threads');
const { url, bodies, concurrency } = workerData;
(async () => {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/fhir+json', Prefer: 'return=minimal' },
        body,
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error('bundle failed: ' + res.status + ' ' + text.slice(0, 500));
    }
  }));
  parentPort.postMessage({ ms: performance.now() - t0 });
})().catch((err) => parentPort.postMessage({ error: String(err) }));
`;

function post(url: string, bodies: string[], concurrency: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(CLIENTS, { eval: true, workerData: { url, bodies, concurrency } });
    worker.once('message', (m: { ms?: number; error?: string }) => {
      void worker.terminate();
      if (m.error !== undefined) reject(new Error(m.error));
      else resolve(m.ms ?? NaN);
    });
    worker.once('error', reject);
  });
}

interface Phase {
  requestMs: number;
  /** From the last answer until the pipeline queue had nothing waiting or running. */
  drainMs: number;
}

/** A fresh server (its own schema, or its own PGlite directory) loaded with the bodies. */
async function serverPhase(
  pipeline: boolean,
  warmUp: string[],
  bodies: string[],
  concurrency: number,
  databaseUrl: string | undefined,
): Promise<Phase> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fhir-bench-'));
  const schema = databaseUrl?.startsWith('postgres') ? `bench_${Date.now()}` : undefined;
  const config = loadConfig(
    {
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      ...(databaseUrl && { DATABASE_URL: databaseUrl }),
      JOB_POLL_SECONDS: '0.5',
    },
    { databaseSchema: schema, pipeline },
  );
  const server = await startServer(config, createLogger('warn'));
  const drain = async (): Promise<number> => {
    const [, ms] = await timed(async () => {
      while ((await server.jobs.pending(QUEUE)) > 0) await new Promise((r) => setTimeout(r, 50));
    });
    return ms;
  };
  try {
    // Warm the JIT (and the first pipeline runs) up before measuring.
    await post(server.fhirBase, warmUp, concurrency);
    await drain();
    const requestMs = await post(server.fhirBase, bodies, concurrency);
    return { requestMs, drainMs: await drain() };
  } finally {
    if (schema) {
      await server.db.raw(`DROP SCHEMA ${schema} CASCADE`);
      await server.db.raw(`DROP SCHEMA IF EXISTS ${schema}_jobs CASCADE`);
    }
    await server.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * Ingest benchmark: whole patient records (40 resources each) as transaction Bundles from
 * `BENCH_CONCURRENCY` clients, into a server with the pipeline off and one with it on (then
 * until its queue has drained), beside one COPY of the same resources' JSON into a bare table of
 * the same kind of database, all in one run.
 */
export async function ingestBench(): Promise<void> {
  const target = Number(process.env.BENCH_RESOURCES ?? 20_000);
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
  const databaseUrl = process.env.BENCH_DATABASE_URL;
  const perRecord = patientRecord(rng(1), 0).entry?.length ?? 40;
  const records = Math.ceil(target / perRecord);
  const r = rng(42);
  const warmUp = Array.from({ length: 25 }, (_, i) => JSON.stringify(patientRecord(r, 1_000_000 + i)));
  const bundles = Array.from({ length: records }, (_, i) => patientRecord(r, i));
  const bodies = bundles.map((b) => JSON.stringify(b));
  const jsons = bundles.flatMap((b) => (b.entry ?? []).map((e) => JSON.stringify(e.resource)));
  const total = jsons.length;
  const kind = databaseUrl?.startsWith('postgres') ? 'PostgreSQL' : 'PGlite (on disk)';
  console.log(
    `ingest: ${records} patient records of ${perRecord} resources (${total}), ${concurrency} clients, ${kind}, ${os.cpus().length} cores, load ${os.loadavg()[0]?.toFixed(2) ?? '?'}`,
  );
  const rate = (ms: number): number => total / (ms / 1000);
  const copyMs = await rawCopy(jsons, databaseUrl);
  const off = await serverPhase(false, warmUp, bodies, concurrency, databaseUrl);
  const on = await serverPhase(true, warmUp, bodies, concurrency, databaseUrl);
  const copy = rate(copyMs);
  const offRate = rate(off.requestMs);
  const onRate = rate(on.requestMs);
  const onDrained = rate(on.requestMs + on.drainMs);
  const line = (name: string, perSecond: number, ms: number): void => {
    console.log(
      `  ${name.padEnd(34)} ${perSecond.toFixed(0).padStart(7)} resources/s  (${(ms / 1000).toFixed(1)} s)  ${(perSecond / copy).toFixed(3)} of COPY`,
    );
  };
  line('raw COPY into a bare table', copy, copyMs);
  line('pipeline off', offRate, off.requestMs);
  line('pipeline on, requests', onRate, on.requestMs);
  line('pipeline on, until queue drained', onDrained, on.requestMs + on.drainMs);
  console.log(
    `  queue drained ${(on.drainMs / 1000).toFixed(1)} s after the last answer; pipeline on ÷ off: ${(onRate / offRate).toFixed(2)} (requests), ${(onDrained / offRate).toFixed(2)} (drained)`,
  );
}
