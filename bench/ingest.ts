import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { startServer } from '../src/server';
import { createLogger } from '../src/shared';
import { LABS, patientBundle, rng } from './generate';
import { percentile, timed } from './stats';

/**
 * GET with one retry: after the baseline phase kept the event loop busy, a pooled keep-alive
 * connection may have been closed by the server just as the client reuses it.
 */
async function get(url: string): Promise<ArrayBuffer> {
  try {
    return await (await fetch(url)).arrayBuffer();
  } catch {
    return (await fetch(url)).arrayBuffer();
  }
}

/**
 * Ingest benchmark: transaction Bundles over HTTP vs. a plain INSERT of the same JSON into a bare
 * table of the same database, then read and token-search latency at the resulting volume.
 */
export async function ingestBench(): Promise<void> {
  const target = Number(process.env.BENCH_RESOURCES ?? 100_000);
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
  const patients = Math.ceil(target / 11);
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fhir-bench-'));
  const dbUrl = process.env.BENCH_DATABASE_URL ?? 'memory';
  const schema = dbUrl.startsWith('postgres') ? `bench_${Date.now()}` : undefined;
  const config = loadConfig(
    { HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, DATABASE_URL: dbUrl },
    { databaseSchema: schema },
  );
  const server = await startServer(config, createLogger('warn'));
  console.log(
    `ingest: ${patients} patients (${patients * 11} resources), concurrency ${concurrency}, database ${schema ? 'PostgreSQL' : 'PGlite'}`,
  );
  try {
    const r = rng(42);
    const bundles = Array.from({ length: patients }, (_, i) => patientBundle(r, i));
    let next = 0;
    const [, ingestMs] = await timed(async () => {
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < bundles.length) {
            const b = bundles[next++];
            const res = await fetch(server.fhirBase, {
              method: 'POST',
              headers: { 'Content-Type': 'application/fhir+json' },
              body: JSON.stringify(b),
            });
            if (res.status !== 200) throw new Error(`bundle failed: ${res.status} ${await res.text()}`);
            await res.arrayBuffer();
          }
        }),
      );
    });
    const total = patients * 11;
    const serverRate = total / (ingestMs / 1000);

    await server.db.raw('CREATE TABLE bench_raw (id text PRIMARY KEY, content text NOT NULL)');
    let n = 0;
    const [, rawMs] = await timed(async () => {
      for (const b of bundles) {
        await server.db.transaction(async (trx) => {
          await trx('bench_raw').insert(
            (b.entry ?? []).map((e) => ({ id: String(n++), content: JSON.stringify(e.resource) })),
          );
        });
      }
    });
    const rawRate = total / (rawMs / 1000);
    console.log(`  server ingest: ${serverRate.toFixed(0)} resources/s (${(ingestMs / 1000).toFixed(1)} s)`);
    console.log(`  raw INSERT baseline: ${rawRate.toFixed(0)} resources/s (${(rawMs / 1000).toFixed(1)} s)`);
    console.log(`  ratio server/raw: ${(serverRate / rawRate).toFixed(3)}`);

    const ids = (await server
      .db('resource')
      .where({ resource_type: 'Patient' })
      .select('id')
      .limit(1000)) as { id: string }[];
    const reads: number[] = [];
    const searches: number[] = [];
    const q = rng(7);
    for (let i = 0; i < 500; i++) {
      const id = ids[Math.floor(q() * ids.length)]?.id ?? '';
      const [, ms] = await timed(() => get(`${server.fhirBase}/Patient/${id}`));
      reads.push(ms);
      const lab = LABS[Math.floor(q() * LABS.length)]?.code ?? '';
      const mrn = `MRN${Math.floor(q() * patients)}`;
      const url =
        i % 2
          ? `Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|${mrn}`
          : `Observation?code=http://loinc.org|${lab}&_count=20`;
      const [, sms] = await timed(() => get(`${server.fhirBase}/${url}`));
      searches.push(sms);
    }
    console.log(
      `  read p50 ${percentile(reads, 50).toFixed(2)} ms, p95 ${percentile(reads, 95).toFixed(2)} ms (${total} resources)`,
    );
    console.log(
      `  token search p50 ${percentile(searches, 50).toFixed(2)} ms, p95 ${percentile(searches, 95).toFixed(2)} ms`,
    );
  } finally {
    if (schema) await server.db.raw(`DROP SCHEMA ${schema} CASCADE`);
    await server.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}
