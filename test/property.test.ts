import fc from 'fast-check';
import { minimalResource } from './helpers/minimal';
import type { TestServer } from './helpers/server';
import { fhirFetch, startTestServer } from './helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

const TYPES = [
  'Patient',
  'Observation',
  'Encounter',
  'DiagnosticReport',
  'Condition',
  'MedicationRequest',
  'Bundle',
  'Binary',
];

/** Random JSON plus mutations of valid resources: wrong types, unknown keys, removed fields, odd values. */
const jsonValue = fc.jsonValue({ maxDepth: 4 });
const mutated = fc
  .tuple(
    fc.constantFrom(...TYPES),
    fc.string({ maxLength: 12 }),
    jsonValue,
    fc.constantFrom('set', 'delete', 'wrap', 'retype'),
  )
  .map(([type, key, value, op]) => {
    const r = minimalResource(type) as unknown as Record<string, unknown>;
    const keys = Object.keys(r).filter((k) => k !== 'resourceType');
    const target = keys.length && op !== 'set' ? (keys[key.length % keys.length] as string) : key || 'x';
    if (op === 'set') r[target] = value;
    if (op === 'delete') delete r[target];
    if (op === 'wrap') r[target] = [r[target], value];
    if (op === 'retype') r[target] = typeof r[target] === 'string' ? 42 : 'text';
    return { type, body: r };
  });
const random = fc.tuple(fc.constantFrom(...TYPES), jsonValue).map(([type, body]) => ({ type, body }));

async function consistent(): Promise<void> {
  // Every current row matches its latest version; no index row belongs to a missing or deleted resource.
  const mismatch = await server.db.raw(`
    SELECT count(*) AS c FROM resource r
    WHERE r.version_id <> (SELECT max(v.version_id) FROM resource_version v WHERE v.resource_type = r.resource_type AND v.id = r.id)`);
  expect(Number(mismatch.rows[0].c)).toBe(0);
  for (const t of [
    'sp_token',
    'sp_string',
    'sp_date',
    'sp_reference',
    'sp_quantity',
    'sp_number',
    'sp_uri',
  ]) {
    const orphans = await server.db.raw(`
      SELECT count(*) AS c FROM ${t} i WHERE NOT EXISTS (
        SELECT 1 FROM resource r WHERE r.resource_type = i.resource_type AND r.id = i.resource_id AND NOT r.deleted)`);
    expect(Number(orphans.rows[0].c)).toBe(0);
  }
}

test('random and mutated resources never cause a 5xx; every 4xx is an OperationOutcome', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(mutated, random),
      fc.constantFrom('POST', 'PUT'),
      async ({ type, body }, method) => {
        const path = method === 'POST' ? type : `${type}/prop-${Math.abs(JSON.stringify(body).length % 50)}`;
        const payload =
          method === 'PUT' && body && typeof body === 'object' && !Array.isArray(body)
            ? { ...body, id: path.split('/')[1] }
            : body;
        const res = await fhirFetch(server, path, { method, body: payload });
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) expect(res.body.resourceType).toBe('OperationOutcome');
        if (res.status < 300 && res.status !== 204) {
          const read = await fhirFetch(server, `${type}/${res.body.id}`, {
            headers: { Accept: 'application/fhir+json' },
          });
          expect(read.status).toBe(200);
        }
      },
    ),
    { numRuns: 300, seed: 20261123 },
  );
  await consistent();
});
