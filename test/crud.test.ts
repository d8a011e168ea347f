import type { Patient, Resource } from '@medplum/fhirtypes';
import { storableResourceTypes } from '../src/shared';
import { medplumClient, fhirKitClient } from './helpers/clients';
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

describe('every R4 resource type', () => {
  test.each(storableResourceTypes())('%s: create, read, vread, update, delete, history', async (type) => {
    const created = await fhirFetch(server, type, { body: minimalResource(type) });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.headers.get('location')).toBe(`${server.fhirBase}/${type}/${id}/_history/1`);

    const read = await fhirFetch(server, `${type}/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.meta.versionId).toBe('1');

    const updated = await fhirFetch(server, `${type}/${id}`, {
      method: 'PUT',
      body: { ...read.body, meta: { ...read.body.meta, tag: [{ system: 'urn:test', code: 'v2' }] } },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.meta.versionId).toBe('2');
    expect((await fhirFetch(server, `${type}/${id}/_history/1`)).body.meta.versionId).toBe('1');

    expect((await fhirFetch(server, `${type}/${id}`, { method: 'DELETE' })).status).toBe(200);
    const gone = await fhirFetch(server, `${type}/${id}`);
    expect(gone.status).toBe(410);
    expect(gone.body.resourceType).toBe('OperationOutcome');

    const history = await fhirFetch(server, `${type}/${id}/_history`);
    expect(history.body.entry.map((e: { request: { method: string } }) => e.request.method)).toEqual([
      'DELETE',
      'PUT',
      'POST',
    ]);
  });
});

describe('real clients', () => {
  test('MedplumClient: create, read, update, patch, search, delete', async () => {
    const medplum = medplumClient(server.fhirBase);
    const p = await medplum.createResource<Patient>({
      resourceType: 'Patient',
      name: [{ family: 'Medplum', given: ['Ann'] }],
    });
    expect(p.id).toBeDefined();
    const read = await medplum.readResource('Patient', p.id);
    expect(read.name?.[0]?.family).toBe('Medplum');
    const upd = await medplum.updateResource<Patient>({ ...read, gender: 'female' });
    expect(upd.meta?.versionId).toBe('2');
    const patched = await medplum.patchResource('Patient', p.id, [
      { op: 'add', path: '/active', value: true },
    ]);
    expect(patched.active).toBe(true);
    expect(patched.meta?.versionId).toBe('3');
    const bundle = await medplum.search('Patient', { family: 'medplum' });
    expect(bundle.entry?.map((e) => e.resource?.id)).toContain(p.id);
    const hist = await medplum.readHistory('Patient', p.id);
    expect(hist.entry).toHaveLength(3);
    await medplum.deleteResource('Patient', p.id);
    await expect(medplum.readResource('Patient', p.id)).rejects.toThrow();
  });

  test('fhir-kit-client: create, read, vread, update, search, history, delete', async () => {
    const client = fhirKitClient(server.fhirBase);
    const created = (await client.create({
      resourceType: 'Organization',
      body: { resourceType: 'Organization', name: 'Kit Hospital' },
    })) as Resource;
    const id = created.id as string;
    const read = await client.read({ resourceType: 'Organization', id });
    expect(read.name).toBe('Kit Hospital');
    const updated = await client.update({
      resourceType: 'Organization',
      id,
      body: { ...read, name: 'Kit Hospital 2' },
    });
    expect(updated.meta.versionId).toBe('2');
    const v1 = await client.vread({ resourceType: 'Organization', id, version: '1' });
    expect(v1.name).toBe('Kit Hospital');
    const found = await client.search({
      resourceType: 'Organization',
      searchParams: { name: 'kit hospital 2' },
    });
    expect(found.entry[0].resource.id).toBe(id);
    const typeHistory = await client.typeHistory({ resourceType: 'Organization' });
    expect(typeHistory.entry.length).toBeGreaterThanOrEqual(2);
    await client.delete({ resourceType: 'Organization', id });
    await expect(client.read({ resourceType: 'Organization', id })).rejects.toBeDefined();
  });
});

describe('update-as-create and JSON Patch', () => {
  test('PUT with a client id creates the resource (201) at version 1', async () => {
    const res = await fhirFetch(server, 'Patient/client-chosen-1', {
      method: 'PUT',
      body: { resourceType: 'Patient', id: 'client-chosen-1', active: true },
    });
    expect(res.status).toBe(201);
    expect(res.body.meta.versionId).toBe('1');
    expect(res.headers.get('location')).toContain('/Patient/client-chosen-1/_history/1');
  });

  test('PUT after delete recreates with the next version number', async () => {
    await fhirFetch(server, 'Patient/recreate-1', {
      method: 'PUT',
      body: { resourceType: 'Patient', id: 'recreate-1' },
    });
    await fhirFetch(server, 'Patient/recreate-1', { method: 'DELETE' });
    const again = await fhirFetch(server, 'Patient/recreate-1', {
      method: 'PUT',
      body: { resourceType: 'Patient', id: 'recreate-1' },
    });
    expect(again.status).toBe(201);
    expect(again.body.meta.versionId).toBe('3');
  });

  test('a PUT with unchanged content creates no new version', async () => {
    const a = await fhirFetch(server, 'Patient/same-1', {
      method: 'PUT',
      body: { resourceType: 'Patient', id: 'same-1', active: true },
    });
    const b = await fhirFetch(server, 'Patient/same-1', {
      method: 'PUT',
      body: { resourceType: 'Patient', id: 'same-1', active: true },
    });
    expect(a.body.meta.versionId).toBe('1');
    expect(b.status).toBe(200);
    expect(b.body.meta.versionId).toBe('1');
    // The same content with its elements in another order, and one changed value of equal length.
    const reordered = await fhirFetch(server, 'Patient/same-1', {
      method: 'PUT',
      body: { active: true, id: 'same-1', resourceType: 'Patient' },
    });
    expect(reordered.body.meta.versionId).toBe('1');
    const changed = await fhirFetch(server, 'Patient/same-1', {
      method: 'PUT',
      body: { resourceType: 'Patient', id: 'same-1', birthDate: '1990-01-01' },
    });
    const sameLength = await fhirFetch(server, 'Patient/same-1', {
      method: 'PUT',
      body: { resourceType: 'Patient', id: 'same-1', birthDate: '1991-01-01' },
    });
    expect([changed.body.meta.versionId, sameLength.body.meta.versionId]).toEqual(['2', '3']);
  });

  test('JSON Patch: applies, rejects a failed test op with 422 and a wrong content type with 415', async () => {
    const p = await fhirFetch(server, 'Patient', { body: { resourceType: 'Patient', active: false } });
    const ok = await fhirFetch(server, `Patient/${p.body.id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json-patch+json' },
      body: [{ op: 'replace', path: '/active', value: true }],
    });
    expect(ok.status).toBe(200);
    expect(ok.body.active).toBe(true);
    const failed = await fhirFetch(server, `Patient/${p.body.id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json-patch+json' },
      body: [{ op: 'test', path: '/active', value: false }],
    });
    expect(failed.status).toBe(422);
    const invalid = await fhirFetch(server, `Patient/${p.body.id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json-patch+json' },
      body: [{ op: 'add', path: '/gender', value: 'not-a-gender' }],
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.issue[0].expression).toEqual(['Patient.gender']);
    const wrongType = await fhirFetch(server, `Patient/${p.body.id}`, {
      method: 'PATCH',
      body: [{ op: 'remove', path: '/active' }],
    });
    expect(wrongType.status).toBe(415);
  });
});

describe('history', () => {
  test('type and system history: newest first, _since, _count and next links', async () => {
    const start = new Date();
    await new Promise((r) => setTimeout(r, 5));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        (await fhirFetch(server, 'Device', { body: { resourceType: 'Device', serialNumber: `hist-${i}` } }))
          .body.id,
      );
    }
    const page1 = await fhirFetch(server, `Device/_history?_since=${start.toISOString()}&_count=2`);
    expect(page1.body.total).toBe(5);
    expect(page1.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual([
      ids[4],
      ids[3],
    ]);
    const next = page1.body.link.find((l: { relation: string }) => l.relation === 'next').url as string;
    const page2 = await fhirFetch(server, next.slice(server.fhirBase.length));
    expect(page2.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual([
      ids[2],
      ids[1],
    ]);
    const system = await fhirFetch(server, `_history?_since=${start.toISOString()}&_count=100`);
    expect(system.body.type).toBe('history');
    expect(system.body.entry[0].resource.id).toBe(ids[4]);
  });
});
