import { loadConfig } from '../src/config';
import { migrate, openDatabase } from '../src/storage';

// Concurrent starts only happen against a shared PostgreSQL: this runs in the PostgreSQL pass of CI.
const withPostgres = process.env.TEST_DATABASE_URL ? test : test.skip;

withPostgres(
  'several processes starting at once create and migrate one empty schema without failing',
  async () => {
    const schema = `m_${Math.random().toString(36).slice(2, 10)}`;
    const config = loadConfig({ DATABASE_URL: process.env.TEST_DATABASE_URL, DATABASE_SCHEMA: schema });
    const dbs = await Promise.all(Array.from({ length: 4 }, () => openDatabase(config)));
    try {
      await Promise.all(dbs.map((db) => migrate(db)));
      const tables = (await dbs[0]?.raw(
        `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = 'dicom_import'`,
        [schema],
      )) as { rows: { n: number }[] };
      expect(tables.rows[0]?.n).toBe(1);
    } finally {
      await dbs[0]?.raw(`DROP SCHEMA ${schema} CASCADE`);
      await Promise.all(dbs.map((db) => db.destroy()));
    }
  },
);
