import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PGlite } from '@electric-sql/pglite';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { timed } from './stats';

/** One row of COPY's text format: tab between columns, backslashes doubled (JSON has no raw tabs or newlines). */
const copyRow = (id: string, json: string): string => `${id}\t${json.replace(/\\/g, '\\\\')}\n`;

const TABLE = '(id text PRIMARY KEY, content text NOT NULL)';

/**
 * The floor: the same resources' JSON in one COPY into a bare table (id and content, like the
 * server's resource table), committed, on a fresh schema of the PostgreSQL database or a fresh
 * PGlite database on disk. Building the COPY text is timed too; generating the JSON is not.
 * Answers the milliseconds it took.
 */
export async function rawCopy(jsons: readonly string[], databaseUrl: string | undefined): Promise<number> {
  if (databaseUrl?.startsWith('postgres')) {
    const client = new Client({ connectionString: databaseUrl });
    await client.connect();
    const schema = `bench_copy_${Date.now()}`;
    try {
      await client.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.bench_raw ${TABLE}`);
      const [, ms] = await timed(async () => {
        await client.query('BEGIN');
        const stream = client.query(copyFrom(`COPY ${schema}.bench_raw (id, content) FROM STDIN`));
        const chunks = function* (): Generator<string> {
          for (let i = 0; i < jsons.length; i += 500)
            yield jsons
              .slice(i, i + 500)
              .map((j, k) => copyRow(String(i + k), j))
              .join('');
        };
        await pipeline(Readable.from(chunks()), stream);
        await client.query('COMMIT');
      });
      return ms;
    } finally {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    }
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fhir-bench-copy-'));
  const db = await PGlite.create(databaseUrl === 'memory' ? undefined : dir);
  try {
    await db.exec(`CREATE TABLE bench_raw ${TABLE}`);
    const [, ms] = await timed(async () => {
      const text = jsons.map((j, i) => copyRow(String(i), j)).join('');
      await db.transaction(async (tx) => {
        await tx.query(`COPY bench_raw (id, content) FROM '/dev/blob'`, [], { blob: new Blob([text]) });
      });
    });
    return ms;
  } finally {
    await db.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
