import fs from 'node:fs/promises';
import path from 'node:path';
import knex from 'knex';
import type { Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import type { Config } from '../config';

/** Advisory lock key shared by every process that creates or migrates this server's tables. */
export const MIGRATION_LOCK = 424_242_001;
/** Held while a process installs and configures its job queues. */
export const JOB_QUEUE_LOCK = 424_242_002;

export type Database = Knex;
export type Executor = Knex | Knex.Transaction;

/**
 * Opens PostgreSQL when DATABASE_URL is a postgres URL, otherwise embedded PGlite
 * (in DATA_DIR/pglite, or in memory for DATABASE_URL=memory). Both speak the same SQL,
 * so one set of migrations and one query layer serve both.
 */
export async function openDatabase(config: Config): Promise<Database> {
  const url = config.databaseUrl;
  if (!isEmbedded(config)) {
    const schema = config.databaseSchema;
    if (schema) {
      if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error('DATABASE_SCHEMA must be a plain identifier');
      const bootstrap = knex({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
      try {
        // Processes starting together would race on the catalog: one creates, the others wait.
        await bootstrap.transaction(async (trx) => {
          await trx.raw('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK]);
          await trx.raw(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        });
      } finally {
        await bootstrap.destroy();
      }
    }
    return knex({
      client: 'pg',
      connection: url,
      searchPath: schema ? [schema] : undefined,
      pool: { min: 0, max: config.databasePoolMax },
      acquireConnectionTimeout: 60_000,
    });
  }
  if (url && url !== 'memory') throw new Error('DATABASE_URL must be postgres://..., "memory", or unset');
  let connection: Record<string, string> = {};
  if (url !== 'memory') {
    const dir = path.join(config.dataDir, 'pglite');
    await fs.mkdir(dir, { recursive: true });
    connection = { filename: dir };
  }
  // PGlite is one connection; knex-pglite fixes the pool at 1, which also serialises transactions.
  const db = knex({
    client: ClientPgLite,
    dialect: 'postgres',
    connection,
    acquireConnectionTimeout: 600_000,
  });
  // PGlite starts initialising when knex is created; a database closed before its first query
  // would otherwise go on initialising in the background after destroy() has returned.
  await db.raw('SELECT 1');
  return db;
}

/** The part of knex's (untyped) client used to hold one connection of the pool. */
interface KnexClient {
  config: { client?: unknown };
  acquireConnection(): Promise<unknown>;
  releaseConnection(conn: unknown): Promise<unknown>;
}

/** A driver connection: node-postgres's client, or PGlite (which also has `exec`). */
export interface RawConnection {
  query(sql: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  exec?(sql: string): Promise<{ rows: unknown[] }[]>;
}

/**
 * Runs fn on the executor's driver connection: one of the pool, or an open transaction's own,
 * held until fn settles.
 */
export async function withConnection<T>(exec: Executor, fn: (conn: RawConnection) => Promise<T>): Promise<T> {
  const client = exec.client as KnexClient;
  const conn = (await client.acquireConnection()) as RawConnection;
  try {
    return await fn(conn);
  } finally {
    await client.releaseConnection(conn);
  }
}

/**
 * Runs fn while this process holds a PostgreSQL session advisory lock on `key`, taken on a
 * connection of its own so that fn can use the pool: processes starting together on one database
 * take turns. Embedded PGlite serves one process (and has no second connection), so it runs fn
 * directly.
 */
export async function withAdvisoryLock<T>(db: Database, key: number, fn: () => Promise<T>): Promise<T> {
  if ((db.client as KnexClient).config.client !== 'pg') return fn();
  return withConnection(db, async (conn) => {
    await conn.query('SELECT pg_advisory_lock($1)', [key]);
    try {
      return await fn();
    } finally {
      await conn.query('SELECT pg_advisory_unlock($1)', [key]);
    }
  });
}

export function isEmbedded(config: Pick<Config, 'databaseUrl'>): boolean {
  return !config.databaseUrl || !/^postgres(ql)?:\/\//.test(config.databaseUrl);
}

/** PostgreSQL errors worth retrying the whole transaction for. */
export function isRetryableDbError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01' || code === '23505';
}
