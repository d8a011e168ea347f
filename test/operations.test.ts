import { spawn } from 'node:child_process';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import type { TestServer } from './helpers/server';
import { freePort } from './helpers/ports';
import { fhirFetch, startTestServer } from './helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

test('/healthz, /readyz and Prometheus /metrics per interaction', async () => {
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  const ready = await fetch(`${server.url}/readyz`);
  expect(ready.status).toBe(200);
  await fhirFetch(server, 'Patient', { body: { resourceType: 'Patient' } });
  await fhirFetch(server, 'Patient?gender=male');
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  expect(metrics).toMatch(/fhir_http_requests_total\{interaction="create",method="POST",status="201"\} \d+/);
  expect(metrics).toMatch(
    /fhir_http_request_duration_seconds_bucket\{le="[\d.]+",interaction="search-type",method="GET"\}/,
  );
});

test('/readyz reports 503 when the database is gone', async () => {
  const other = await startTestServer();
  await other.db.destroy();
  const res = await fetch(`${other.url}/readyz`);
  expect(res.status).toBe(503);
  await other.close().catch(() => undefined);
});

test('logs carry no resource content, query values or identifiers', async () => {
  const secretName = 'Zebediah-Quackenbush';
  await fhirFetch(server, 'Patient', {
    body: { resourceType: 'Patient', name: [{ family: secretName }], identifier: [{ value: 'MRN-998877' }] },
  });
  await fhirFetch(server, `Patient?family=${secretName}`);
  await fhirFetch(server, 'Patient', {
    body: { resourceType: 'Patient', name: [{ family: secretName }], gender: 'invalid-gender' },
  });
  const logs = server.logs();
  expect(logs).toContain('"interaction":"create"');
  expect(logs).not.toContain(secretName);
  expect(logs).not.toContain('MRN-998877');
});

test('SIGTERM lets in-flight requests finish, then exits 0', async () => {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fhir-sigterm-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      DATA_DIR: dataDir,
      DATABASE_URL: 'memory',
      LOG_LEVEL: 'debug',
      // Until the suite moves to tokens (test/helpers/auth.ts).
      AUTH_REQUIRED: 'false',
      // Only the keep-alive connection's prompt close can end this in time: nothing is forced.
      SHUTDOWN_TIMEOUT_MS: '600000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      resolve(code);
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200 && !out.includes('listening'); i++) await new Promise((r) => setTimeout(r, 100));
  const entries = Array.from({ length: 3000 }, (_, i) => ({
    resource: { resourceType: 'Patient', name: [{ family: `Shutdown${i}` }] },
    request: { method: 'POST', url: 'Patient' },
  }));
  const pending = fetch(`${base}/fhir`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries }),
  });
  // Signal as soon as the server has the request; the signal is handled between its awaits.
  for (let i = 0; i < 300 && !out.includes('request received'); i++)
    await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGTERM');
  const res = await pending;
  expect(res.status).toBe(200);
  const body = (await res.json()) as { entry: unknown[] };
  expect(body.entry).toHaveLength(3000);
  expect(await exited).toBe(0);
  const shutdownLine = out.split('\n').find((l) => l.includes('shutting down')) ?? '';
  expect(JSON.parse(shutdownLine).inFlight).toBeGreaterThanOrEqual(1);
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('API_PROCESSES > 1 refuses embedded PGlite at start, with the reason', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, PORT: '0', DATABASE_URL: 'memory', API_PROCESSES: '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code).toBe(1);
  expect(err).toContain('API_PROCESSES > 1 needs DATABASE_URL');
});

// Several API processes need a database they can share: this runs in the PostgreSQL pass of CI.
const withPostgres = process.env.TEST_DATABASE_URL ? test : test.skip;
withPostgres(
  'API_PROCESSES=2 serves from two processes on one port and stops both on SIGTERM',
  async () => {
    const port = await freePort();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fhir-cluster-'));
    const schema = `cluster_${Date.now()}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...process.env,
        PORT: String(port),
        DATA_DIR: dataDir,
        DATABASE_URL: process.env.TEST_DATABASE_URL,
        DATABASE_SCHEMA: schema,
        API_PROCESSES: '2',
        LOG_LEVEL: 'info',
        AUTH_REQUIRED: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      for (let i = 0; i < 300 && out.split('"listening"').length < 3; i++)
        await new Promise((r) => setTimeout(r, 100));
      const pids = new Set(
        out
          .split('\n')
          .filter((l) => l.includes('"listening"'))
          .map((l) => (JSON.parse(l) as { pid: number }).pid),
      );
      expect(pids.size).toBe(2);
      // Both created their schema and tables at once, into an empty schema, without a failed start.
      expect(err).not.toContain('startup failed');
      expect(out).not.toContain('API process exited');
      const created = await fetch(`http://127.0.0.1:${port}/fhir/Patient`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Clustered' }] }),
      });
      expect(created.status).toBe(201);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    fs.rmSync(dataDir, { recursive: true, force: true });
  },
  60_000,
);
