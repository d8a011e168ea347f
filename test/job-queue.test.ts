import { PassThrough } from 'node:stream';
import knex from 'knex';
import { JobQueue } from '../src/jobs';
import { createLogger } from '../src/shared';

const withPostgres = process.env.TEST_DATABASE_URL ? test : test.skip;

withPostgres('processes starting together on an empty database all start their job queue', async () => {
  const url = process.env.TEST_DATABASE_URL ?? '';
  const schema = `jq_${Math.random().toString(36).slice(2, 10)}`;
  const pools = Array.from({ length: 5 }, () =>
    knex({ client: 'pg', connection: url, pool: { min: 0, max: 4 } }),
  );
  const logger = createLogger('silent', new PassThrough());
  const queues = pools.map((db) => new JobQueue(db, schema, logger));
  const specs = ['race', 'race-2', 'race-3'].map((name) => ({
    name,
    retryLimit: 0,
    retryDelay: 1,
    retryBackoff: false,
    expireInSeconds: 60,
  }));
  try {
    await Promise.all(queues.map((q) => q.start(specs)));
    // Every pool is still usable: no connection went back to it inside an aborted transaction.
    for (const db of pools) {
      const rows = await Promise.all(Array.from({ length: 4 }, () => db.raw('SELECT 1 AS one')));
      expect(rows.map((r: { rows: { one: number }[] }) => r.rows[0]?.one)).toEqual([1, 1, 1, 1]);
    }
    const id = await queues[2]?.send('race', { n: 1 });
    expect((await queues[0]?.get('race', id ?? ''))?.state).toBe('created');
  } finally {
    await Promise.all(queues.map((q) => q.stop(1000)));
    await pools[0]?.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await Promise.all(pools.map((db) => db.destroy()));
  }
});
