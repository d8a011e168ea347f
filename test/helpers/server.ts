import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import knex from 'knex';
import { loadConfig } from '../../src/config';
import type { Config } from '../../src/config';
import { startServer } from '../../src/server';
import type { RunningServer, StartHooks } from '../../src/server';
import { createLogger } from '../../src/shared';

export interface TestServer extends RunningServer {
  logs: () => string;
  dataDir: string;
  /** The PostgreSQL schema of this server's tables (PostgreSQL runs only). */
  schema?: string;
}

/**
 * A real server on a free port. Database: in-memory PGlite, or, when TEST_DATABASE_URL is set
 * (CI's PostgreSQL run), a fresh schema in that database that is dropped again on close.
 */
export async function startTestServer(
  overrides: Partial<Config> = {},
  hooks: StartHooks = {},
): Promise<TestServer> {
  // A given DATA_DIR outlives the server (restart tests); a temporary one is removed on close.
  const ownDataDir = overrides.dataDir === undefined;
  const dataDir = overrides.dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'fhir-test-')));
  const pgUrl = process.env.TEST_DATABASE_URL;
  const schema = pgUrl ? `t_${Math.random().toString(36).slice(2, 10)}` : undefined;
  const config = loadConfig(
    { HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, DATABASE_URL: pgUrl ?? 'memory', LOG_LEVEL: 'info' },
    // authRequired: false until the suite is converted to tokens (test/helpers/auth.ts); auth tests
    // start their servers with authRequired: true. scrypt at its minimum cost keeps logins fast.
    { databaseSchema: schema, authRequired: false, passwordScryptCost: 14, ...overrides },
  );
  let logText = '';
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => {
    logText += chunk.toString('utf8');
  });
  const server = await startServer(config, createLogger('info', sink), undefined, hooks);
  return {
    ...server,
    dataDir,
    ...(schema && { schema }),
    logs: () => logText,
    close: async () => {
      await server.close();
      if (pgUrl && schema) {
        const admin = knex({ client: 'pg', connection: pgUrl, pool: { min: 0, max: 1 } });
        await admin.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.raw(`DROP SCHEMA IF EXISTS ${schema}_jobs CASCADE`);
        await admin.destroy();
      }
      if (ownDataDir) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function fhirFetch(
  server: { fhirBase: string },
  pathAndQuery: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const hasBody = init.body !== undefined;
  const res = await fetch(`${server.fhirBase}/${pathAndQuery.replace(/^\//, '')}`, {
    method: init.method ?? (hasBody ? 'POST' : 'GET'),
    headers: { ...(hasBody ? { 'Content-Type': 'application/fhir+json' } : {}), ...init.headers },
    body: hasBody ? (typeof init.body === 'string' ? init.body : JSON.stringify(init.body)) : undefined,
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}
