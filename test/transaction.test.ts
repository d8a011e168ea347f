import fs from 'node:fs';
import path from 'node:path';
import type { TestServer } from './helpers/server';
import { fhirFetch, startTestServer } from './helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

async function rowCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of [
    'resource',
    'resource_version',
    'sp_token',
    'sp_string',
    'sp_reference',
    'resource_reference',
  ]) {
    const row = (await server.db(t).count('* as c').first()) as { c: string | number };
    out[t] = Number(row.c);
  }
  return out;
}

test('transaction: urn:uuid references and conditional references are resolved and rewritten', async () => {
  await fhirFetch(server, 'Organization', {
    body: { resourceType: 'Organization', identifier: [{ system: 'urn:org', value: 'acme' }], name: 'Acme' },
  });
  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111',
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'hr' },
          subject: { reference: 'urn:uuid:22222222-2222-4222-8222-222222222222' },
        },
        request: { method: 'POST', url: 'Observation' },
      },
      {
        fullUrl: 'urn:uuid:22222222-2222-4222-8222-222222222222',
        resource: {
          resourceType: 'Patient',
          managingOrganization: { reference: 'Organization?identifier=urn:org|acme' },
        },
        request: { method: 'POST', url: 'Patient' },
      },
    ],
  };
  const res = await fhirFetch(server, '', { body: bundle });
  expect(res.status).toBe(200);
  expect(res.body.type).toBe('transaction-response');
  const [obsEntry, patEntry] = res.body.entry;
  expect(obsEntry.response.status).toBe('201 Created');
  const patientId = patEntry.resource.id;
  expect(obsEntry.resource.subject.reference).toBe(`Patient/${patientId}`);
  expect(patEntry.resource.managingOrganization.reference).toMatch(/^Organization\/[\w-]+$/);
  const search = await fhirFetch(server, `Observation?subject=Patient/${patientId}`);
  expect(search.body.entry).toHaveLength(1);
});

test('transaction: processed in spec order (DELETE, POST, PUT, GET) and GET sees the writes', async () => {
  await fhirFetch(server, 'Patient/order-del', {
    method: 'PUT',
    body: { resourceType: 'Patient', id: 'order-del' },
  });
  const res = await fhirFetch(server, '', {
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'GET', url: 'Patient?identifier=urn:t|order' } },
        {
          resource: {
            resourceType: 'Patient',
            id: 'order-put',
            identifier: [{ system: 'urn:t', value: 'order' }],
          },
          request: { method: 'PUT', url: 'Patient/order-put' },
        },
        {
          resource: { resourceType: 'Patient', identifier: [{ system: 'urn:t', value: 'order' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        { request: { method: 'DELETE', url: 'Patient/order-del' } },
        { request: { method: 'GET', url: 'Patient/order-put/_history' } },
        { request: { method: 'GET', url: 'Patient/order-put' } },
      ],
    },
  });
  expect(res.status).toBe(200);
  expect(res.body.entry[0].resource.type).toBe('searchset');
  expect(res.body.entry[0].resource.entry).toHaveLength(2);
  // Version and index rows are written in batches; reads inside the transaction still see them.
  expect(res.body.entry[4].resource.entry).toHaveLength(1);
  expect(res.body.entry[5].resource.id).toBe('order-put');
  expect(res.body.entry[3].response.status).toBe('200 OK');
  expect((await fhirFetch(server, 'Patient/order-del')).status).toBe(410);
});

test('transaction: a failing entry rolls back everything and leaves no row behind', async () => {
  const before = await rowCounts();
  const res = await fhirFetch(server, '', {
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:33333333-3333-4333-8333-333333333333',
          resource: { resourceType: 'Patient', name: [{ family: 'Rollback' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: { resourceType: 'Binary', contentType: 'text/plain', data: 'aGVsbG8=' },
          request: { method: 'POST', url: 'Binary' },
        },
        {
          resource: { resourceType: 'Observation', status: 'bogus', code: { text: 'x' } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    },
  });
  expect(res.status).toBe(400);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].expression[0]).toBe('Bundle.entry[2]');
  expect(await rowCounts()).toEqual(before);
  // The Binary's bytes were written to the blob store before the rollback; they are removed again.
  const blobDir = path.join(server.dataDir, 'blobs', 'sha256');
  const files = fs.existsSync(blobDir)
    ? fs.readdirSync(blobDir, { recursive: true }).filter((f) => String(f).length > 3)
    : [];
  expect(files).toEqual([]);
  expect((await fhirFetch(server, 'Patient?family=rollback')).body.entry).toBeUndefined();
});

test('transaction: referential integrity is checked after all entries, and a dangling reference fails it', async () => {
  const res = await fhirFetch(server, '', {
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'x' },
            subject: { reference: 'Patient/does-not-exist' },
          },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    },
  });
  expect(res.status).toBe(400);
  expect(JSON.stringify(res.body)).toContain('Patient/does-not-exist');
});

test('transaction: conditional create inside a bundle reuses the existing resource', async () => {
  const entry = {
    fullUrl: 'urn:uuid:44444444-4444-4444-8444-444444444444',
    resource: { resourceType: 'Patient', identifier: [{ system: 'urn:t', value: 'tx-cond' }] },
    request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:t|tx-cond' },
  };
  const obs = {
    resource: {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: 'urn:uuid:44444444-4444-4444-8444-444444444444' },
    },
    request: { method: 'POST', url: 'Observation' },
  };
  const a = await fhirFetch(server, '', {
    body: { resourceType: 'Bundle', type: 'transaction', entry: [entry, obs] },
  });
  const b = await fhirFetch(server, '', {
    body: { resourceType: 'Bundle', type: 'transaction', entry: [entry, obs] },
  });
  expect(a.body.entry[0].response.status).toBe('201 Created');
  expect(b.body.entry[0].response.status).toBe('200 OK');
  expect(b.body.entry[1].resource.subject.reference).toBe(a.body.entry[1].resource.subject.reference);
});

test('batch: entries succeed or fail independently with per-entry status and OperationOutcome', async () => {
  const res = await fhirFetch(server, '', {
    body: {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        {
          resource: { resourceType: 'Patient', name: [{ family: 'BatchOk' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: { resourceType: 'Patient', gender: 'nope' },
          request: { method: 'POST', url: 'Patient' },
        },
        { request: { method: 'GET', url: 'Patient/missing-id' } },
        { request: { method: 'GET', url: 'Patient?family=batchok' } },
      ],
    },
  });
  expect(res.status).toBe(200);
  expect(res.body.type).toBe('batch-response');
  const statuses = res.body.entry.map((e: { response: { status: string } }) => e.response.status);
  expect(statuses).toEqual(['201 Created', '400 Bad Request', '404 Not Found', '200 OK']);
  expect(res.body.entry[1].response.outcome.issue[0].expression).toEqual(['Patient.gender']);
  expect(res.body.entry[3].resource.entry).toHaveLength(1);
});

test('bundle of the wrong type is rejected', async () => {
  const res = await fhirFetch(server, '', { body: { resourceType: 'Bundle', type: 'collection' } });
  expect(res.status).toBe(400);
  expect(res.body.issue[0].expression).toEqual(['Bundle.type']);
});
