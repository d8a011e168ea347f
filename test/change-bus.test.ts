import knex from 'knex';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/shared';
import type { ChangeBus } from '../src/storage';
import { openChangeBus, openDatabase, RESET } from '../src/storage';

const withPostgres = process.env.TEST_DATABASE_URL ? test : test.skip;
const quiet = createLogger('silent');

function collect(bus: ChangeBus, topic: string): (string | typeof RESET)[] {
  const seen: (string | typeof RESET)[] = [];
  bus.subscribe(topic, (p) => seen.push(p));
  return seen;
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}

test('in one process a change reaches the subscribers of its topic only', async () => {
  const config = loadConfig({ DATABASE_URL: 'memory' });
  const db = await openDatabase(config);
  const bus = await openChangeBus(config, db, quiet);
  try {
    const tokens = collect(bus, 'token');
    const users = collect(bus, 'user');
    await bus.publish('token', 'abc');
    expect(tokens).toEqual(['abc']);
    expect(users).toEqual([]);
    expect(bus.healthy).toBe(true);
  } finally {
    await bus.close();
    await db.destroy();
  }
});

withPostgres(
  'on PostgreSQL a change reaches every process on the same schema, and a lost listener resets caches until it is back',
  async () => {
    const schema = `t_bus_${Math.random().toString(36).slice(2, 8)}`;
    const config = loadConfig({ DATABASE_URL: process.env.TEST_DATABASE_URL, DATABASE_SCHEMA: schema });
    const other = loadConfig({ DATABASE_URL: process.env.TEST_DATABASE_URL, DATABASE_SCHEMA: `${schema}x` });
    const db = await openDatabase(config);
    const a = await openChangeBus(config, db, quiet);
    const b = await openChangeBus(config, db, quiet);
    const c = await openChangeBus(other, db, quiet);
    try {
      const onB = collect(b, 'user');
      const onC = collect(c, 'user');
      await a.publish('user', 'alice');
      await until(() => onB.length > 0);
      expect(onB).toEqual(['alice']);
      await new Promise((r) => setTimeout(r, 100));
      expect(onC).toEqual([]);

      // Kill b's listening connection from outside, as a failover or network cut would.
      const admin = knex({
        client: 'pg',
        connection: process.env.TEST_DATABASE_URL,
        pool: { min: 0, max: 1 },
      });
      await admin.raw(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN fhir_changes_${schema}' AND pid <> pg_backend_pid()`,
      );
      await admin.destroy();
      await until(() => onB.includes(RESET));
      await until(() => b.healthy);
      const before = onB.length;
      await a.publish('user', 'bob');
      await until(() => onB.length > before && onB.at(-1) === 'bob');
    } finally {
      await a.close();
      await b.close();
      await c.close();
      await db.destroy();
    }
  },
);
