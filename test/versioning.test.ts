import type { TestServer } from './helpers/server';
import { fhirFetch, startTestServer } from './helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

async function createPatient(
  extra: Record<string, unknown> = {},
): Promise<{ id: string; etag: string; lastModified: string }> {
  const res = await fhirFetch(server, 'Patient', { body: { resourceType: 'Patient', ...extra } });
  expect(res.status).toBe(201);
  return {
    id: res.body.id,
    etag: res.headers.get('etag') ?? '',
    lastModified: res.headers.get('last-modified') ?? '',
  };
}

test('server sets meta, ETag, Last-Modified and a versioned Location', async () => {
  const res = await fhirFetch(server, 'Patient', {
    body: { resourceType: 'Patient', meta: { versionId: '99', lastUpdated: '2000-01-01T00:00:00Z' } },
  });
  expect(res.body.meta.versionId).toBe('1');
  expect(res.body.meta.lastUpdated).not.toBe('2000-01-01T00:00:00Z');
  expect(res.headers.get('etag')).toBe('W/"1"');
  expect(new Date(res.headers.get('last-modified') ?? '').getTime()).toBeGreaterThan(0);
  expect(res.headers.get('location')).toBe(`${server.fhirBase}/Patient/${res.body.id}/_history/1`);
});

test('If-Match: matching version updates, stale version is 412', async () => {
  const { id } = await createPatient();
  const ok = await fhirFetch(server, `Patient/${id}`, {
    method: 'PUT',
    headers: { 'If-Match': 'W/"1"' },
    body: { resourceType: 'Patient', id, active: true },
  });
  expect(ok.status).toBe(200);
  const stale = await fhirFetch(server, `Patient/${id}`, {
    method: 'PUT',
    headers: { 'If-Match': 'W/"1"' },
    body: { resourceType: 'Patient', id, active: false },
  });
  expect(stale.status).toBe(412);
  expect(stale.body.resourceType).toBe('OperationOutcome');
  const del = await fhirFetch(server, `Patient/${id}`, {
    method: 'DELETE',
    headers: { 'If-Match': 'W/"1"' },
  });
  expect(del.status).toBe(412);
});

test('If-None-Match and If-Modified-Since answer 304 when unchanged', async () => {
  const { id, lastModified } = await createPatient();
  expect((await fhirFetch(server, `Patient/${id}`, { headers: { 'If-None-Match': 'W/"1"' } })).status).toBe(
    304,
  );
  expect((await fhirFetch(server, `Patient/${id}`, { headers: { 'If-None-Match': 'W/"7"' } })).status).toBe(
    200,
  );
  expect(
    (await fhirFetch(server, `Patient/${id}`, { headers: { 'If-Modified-Since': lastModified } })).status,
  ).toBe(304);
  expect(
    (
      await fhirFetch(server, `Patient/${id}`, {
        headers: { 'If-Modified-Since': 'Mon, 01 Jan 2001 00:00:00 GMT' },
      })
    ).status,
  ).toBe(200);
});

test('If-None-Match: * on PUT only creates', async () => {
  const first = await fhirFetch(server, 'Patient/inm-1', {
    method: 'PUT',
    headers: { 'If-None-Match': '*' },
    body: { resourceType: 'Patient', id: 'inm-1' },
  });
  expect(first.status).toBe(201);
  const second = await fhirFetch(server, 'Patient/inm-1', {
    method: 'PUT',
    headers: { 'If-None-Match': '*' },
    body: { resourceType: 'Patient', id: 'inm-1', active: true },
  });
  expect(second.status).toBe(412);
});

test('If-None-Exist: conditional create returns the existing match, 412 on several', async () => {
  const body = { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'cond-1' }] };
  const headers = { 'If-None-Exist': 'identifier=urn:mrn|cond-1' };
  const a = await fhirFetch(server, 'Patient', { body, headers });
  expect(a.status).toBe(201);
  const b = await fhirFetch(server, 'Patient', { body, headers });
  expect(b.status).toBe(200);
  expect(b.body.id).toBe(a.body.id);
  await fhirFetch(server, 'Patient', {
    body: { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'dup' }] },
  });
  await fhirFetch(server, 'Patient', {
    body: { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'dup' }] },
  });
  const c = await fhirFetch(server, 'Patient', {
    body,
    headers: { 'If-None-Exist': 'identifier=urn:mrn|dup' },
  });
  expect(c.status).toBe(412);
});

test('conditional update: creates on no match, updates the single match, 412 on several', async () => {
  const url = 'Patient?identifier=urn:mrn|cu-1';
  const body = { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'cu-1' }] };
  const created = await fhirFetch(server, url, { method: 'PUT', body });
  expect(created.status).toBe(201);
  const updated = await fhirFetch(server, url, { method: 'PUT', body: { ...body, active: true } });
  expect(updated.status).toBe(200);
  expect(updated.body.id).toBe(created.body.id);
  expect(updated.body.meta.versionId).toBe('2');
  const multi = await fhirFetch(server, 'Patient?identifier=urn:mrn|dup', { method: 'PUT', body });
  expect(multi.status).toBe(412);
});

test('conditional delete: deletes the single match, 412 on several', async () => {
  const { id } = await createPatient({ identifier: [{ system: 'urn:mrn', value: 'cd-1' }] });
  const res = await fhirFetch(server, 'Patient?identifier=urn:mrn|cd-1', { method: 'DELETE' });
  expect(res.status).toBe(200);
  expect((await fhirFetch(server, `Patient/${id}`)).status).toBe(410);
  expect((await fhirFetch(server, 'Patient?identifier=urn:mrn|dup', { method: 'DELETE' })).status).toBe(412);
});

test('concurrent PUTs with the same If-Match: exactly one wins, history has no gap', async () => {
  const { id } = await createPatient();
  const n = 12;
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      fhirFetch(server, `Patient/${id}`, {
        method: 'PUT',
        headers: { 'If-Match': 'W/"1"' },
        body: { resourceType: 'Patient', id, name: [{ family: `Writer${i}` }] },
      }),
    ),
  );
  const statuses = results.map((r) => r.status).sort();
  expect(statuses.filter((s) => s === 200)).toHaveLength(1);
  expect(statuses.filter((s) => s === 412)).toHaveLength(n - 1);
  const history = await fhirFetch(server, `Patient/${id}/_history`);
  expect(
    history.body.entry.map((e: { resource: { meta: { versionId: string } } }) => e.resource.meta.versionId),
  ).toEqual(['2', '1']);
  // Without If-Match every writer gets its own version, numbered without gaps.
  await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      fhirFetch(server, `Patient/${id}`, {
        method: 'PUT',
        body: { resourceType: 'Patient', id, name: [{ family: `Free${i}` }] },
      }),
    ),
  );
  const after = await fhirFetch(server, `Patient/${id}/_history?_count=100`);
  const versions = after.body.entry.map((e: { resource: { meta: { versionId: string } } }) =>
    Number(e.resource.meta.versionId),
  );
  expect(versions).toEqual(Array.from({ length: 10 }, (_, i) => 10 - i));
});
