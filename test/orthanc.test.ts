import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import { loadConfig } from '../src/config';
import type { RunningServer } from '../src/server';
import { startServer } from '../src/server';
import { createLogger, SYSTEM_ACCESS } from '../src/shared';
import type { Orthanc } from './helpers/orthanc';
import { startOrthanc } from './helpers/orthanc';
import type { TestServer } from './helpers/server';
import { fhirFetch, startTestServer } from './helpers/server';
import {
  editFile,
  multipartBody,
  newUid,
  retrieveAsStored,
  STOW_TYPE,
  testFile,
  withNewUids,
} from './helpers/dicom';

function sopOf(file: Buffer): string | undefined {
  return dicomParser.parseDicom(new Uint8Array(file)).string('x00080018');
}

function pixelsOf(file: Buffer): Buffer {
  const pd = dicomParser.parseDicom(new Uint8Array(file)).elements.x7fe00010;
  return file.subarray(pd?.dataOffset ?? 0, (pd?.dataOffset ?? 0) + (pd?.length ?? 0));
}

let server: TestServer;
let orthanc: Orthanc;

beforeAll(async () => {
  orthanc = await startOrthanc();
  server = await startTestServer({ dicomWebPeers: { pacs: `${orthanc.url}/dicom-web` } });
  // Registered at run time, as an administrator would.
  const put = await orthanc.api('PUT', '/dicom-web/servers/ours', { Url: `${server.url}/dicom-web/` });
  expect(put.status).toBe(200);
}, 60_000);
afterAll(async () => {
  await orthanc.stop();
  await server.close();
});

function studyFiles(study: string, count: number): Buffer[] {
  const series = newUid();
  return Array.from({ length: count }, (_, n) =>
    editFile(withNewUids(testFile('MR_small.dcm'), { study, series }), (d) => {
      d['00200013'] = { vr: 'IS', Value: [n + 1] };
    }),
  );
}

test('Orthanc pushes a study over STOW-RS, its job succeeds, and the study comes back byte-identical', async () => {
  const study = newUid();
  const files = studyFiles(study, 3);
  let orthancStudy = '';
  for (const f of files) {
    const res = await orthanc.api('POST', '/instances', f);
    expect(res.status).toBe(200);
    orthancStudy = (res.body as { ParentStudy: string }).ParentStudy;
  }
  const push = await orthanc.api('POST', '/dicom-web/servers/ours/stow', {
    Resources: [orthancStudy],
    Synchronous: true,
  });
  expect(push.status).toBe(200);
  const parts = await retrieveAsStored(`${server.url}/dicom-web/studies/${study}`);
  expect(parts).toHaveLength(3);
  const sent = new Set(files.map((f) => f.toString('base64')));
  for (const p of parts) expect(sent.has(p.toString('base64'))).toBe(true);
  expect((await fhirFetch(server, `ImagingStudy/${study}`)).body.numberOfInstances).toBe(3);
}, 60_000);

test('Orthanc queries the server with QIDO-RS and retrieves a study from it with WADO-RS', async () => {
  const study = newUid();
  const files = studyFiles(study, 2);
  const stow = await fetch(`${server.url}/dicom-web/studies`, {
    method: 'POST',
    headers: { 'Content-Type': STOW_TYPE },
    body: multipartBody(files),
  });
  expect(stow.status).toBe(200);
  const query = await orthanc.api('POST', '/dicom-web/servers/ours/get', {
    Uri: '/studies',
    Arguments: { StudyInstanceUID: study },
  });
  expect(query.status).toBe(200);
  const studies = query.body as Record<string, { Value?: unknown[] }>[];
  expect(studies.map((s) => s['0020000D']?.Value?.[0])).toEqual([study]);
  expect(studies[0]?.['00201208']?.Value).toEqual([2]);

  const retrieve = await orthanc.api('POST', '/dicom-web/servers/ours/retrieve', {
    Resources: [{ Study: study }],
    Synchronous: true,
  });
  expect(retrieve.status).toBe(200);
  const found = await orthanc.api('POST', '/tools/find', {
    Level: 'Instance',
    Query: { StudyInstanceUID: study },
  });
  const ids = found.body as string[];
  expect(ids).toHaveLength(2);
  // Orthanc rewrites the file meta header when it stores; the data set itself must be ours.
  for (const id of ids) {
    const file = Buffer.from(await (await fetch(`${orthanc.url}/instances/${id}/file`)).arrayBuffer());
    const original = files.find((f) => sopOf(f) === sopOf(file));
    expect(original && pixelsOf(original).equals(pixelsOf(file))).toBe(true);
  }
}, 60_000);

test('a failed instance in an Orthanc push makes its job fail, as Orthanc expects from STOW-RS', async () => {
  // Orthanc rejects invalid files itself, so the failure is provoked on our side: a study whose
  // instance exceeds the server's limit.
  const small = await startTestServer({ dicomMaxInstanceBytes: 1000 });
  try {
    const put = await orthanc.api('PUT', '/dicom-web/servers/small', { Url: `${small.url}/dicom-web/` });
    expect(put.status).toBe(200);
    const study = newUid();
    const up = await orthanc.api('POST', '/instances', studyFiles(study, 1)[0]);
    const push = await orthanc.api('POST', '/dicom-web/servers/small/stow', {
      Resources: [(up.body as { ParentStudy: string }).ParentStudy],
      Synchronous: true,
    });
    expect(push.status).not.toBe(200);
    expect((await fhirFetch(small, `ImagingStudy/${study}`)).status).toBe(404);
  } finally {
    await small.close();
  }
}, 60_000);

async function importRequest(
  body: unknown,
  prefer?: string,
): Promise<{ status: number; location: string; body: ImportJobBody }> {
  const res = await fetch(`${server.url}/dicom-web/import`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(prefer && { Prefer: prefer }) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    location: res.headers.get('content-location') ?? '',
    body: (text && res.headers.get('content-type')?.includes('json')
      ? JSON.parse(text)
      : {}) as ImportJobBody,
  };
}

interface ImportJobBody {
  status?: string;
  studies?: { uid: string; stored: number; failed: number; error?: string }[];
  error?: string;
}

test('the server pulls a study from Orthanc: QIDO-RS to find, WADO-RS to fetch, then the STOW-RS ingest path', async () => {
  const study = newUid();
  const files = studyFiles(study, 3);
  for (const f of files) expect((await orthanc.api('POST', '/instances', f)).status).toBe(200);

  const done = await importRequest({ peer: 'pacs', studies: [study] });
  expect(done.status).toBe(200);
  expect(done.body.status).toBe('completed');
  expect(done.body.studies).toEqual([{ uid: study, stored: 3, failed: 0 }]);
  // What we hold is what Orthanc holds, byte for byte.
  const found = (
    await orthanc.api('POST', '/tools/find', { Level: 'Instance', Query: { StudyInstanceUID: study } })
  ).body as string[];
  const ours = await retrieveAsStored(`${server.url}/dicom-web/studies/${study}`);
  expect(ours).toHaveLength(3);
  for (const id of found) {
    const theirs = Buffer.from(await (await fetch(`${orthanc.url}/instances/${id}/file`)).arrayBuffer());
    expect(ours.some((p) => p.equals(theirs))).toBe(true);
  }
  expect((await fhirFetch(server, `ImagingStudy/${study}`)).body.numberOfInstances).toBe(3);

  // Asynchronously, by query: 202 with a status URL that answers 200 once the job is done.
  const other = newUid();
  for (const f of studyFiles(other, 2)) {
    const tagged = editFile(f, (d) => {
      d['00100020'] = { vr: 'LO', Value: ['IMPORT-Q'] };
    });
    expect((await orthanc.api('POST', '/instances', tagged)).status).toBe(200);
  }
  const accepted = await importRequest({ peer: 'pacs', query: { PatientID: 'IMPORT-Q' } }, 'respond-async');
  expect(accepted.status).toBe(202);
  expect(accepted.location).toMatch(/\/dicom-web\/import\/[0-9a-f-]{36}$/);
  let status = await fetch(accepted.location);
  for (let i = 0; status.status === 202 && i < 200; i++) {
    await new Promise((r) => setTimeout(r, 50));
    status = await fetch(accepted.location);
  }
  expect(status.status).toBe(200);
  expect(((await status.json()) as ImportJobBody).studies).toEqual([{ uid: other, stored: 2, failed: 0 }]);
  expect((await fhirFetch(server, `ImagingStudy/${other}`)).body.numberOfInstances).toBe(2);
}, 60_000);

test('bad import requests are refused; a failed synchronous import is 502 or 409 with the reason, not 200', async () => {
  expect((await importRequest({ peer: 'elsewhere', studies: ['1.2.3'] })).status).toBe(400);
  expect((await importRequest({ peer: 'pacs' })).status).toBe(400);
  expect((await importRequest({ peer: 'pacs', studies: ['1.2.3'], query: {} })).status).toBe(400);
  expect((await importRequest({ peer: 'pacs', studies: ['not a uid'] })).status).toBe(400);
  // A synchronous import that failed is not a 200: the peer did not deliver (502) ...
  const missing = await importRequest({ peer: 'pacs', studies: [newUid()] });
  expect(missing.status).toBe(502);
  expect(missing.body.status).toBe('failed');
  expect(missing.body.studies?.[0]?.error).toMatch(/answered 404/);
  // ... or it did and every instance was refused (409, as a STOW-RS that stores nothing).
  const study = newUid();
  for (const f of studyFiles(study, 2)) expect((await orthanc.api('POST', '/instances', f)).status).toBe(200);
  const strict = await startTestServer({
    dicomWebPeers: { pacs: `${orthanc.url}/dicom-web` },
    dicomMaxInstanceBytes: 1000,
  });
  try {
    const res = await fetch(`${strict.url}/dicom-web/import`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ peer: 'pacs', studies: [study] }),
    });
    expect(res.status).toBe(409);
    expect(((await res.json()) as ImportJobBody).studies).toEqual([{ uid: study, stored: 0, failed: 2 }]);
  } finally {
    await strict.close();
  }
  expect((await fetch(`${server.url}/dicom-web/import/00000000-0000-0000-0000-000000000000`)).status).toBe(
    404,
  );
}, 60_000);

test('an import job left running by a stopped server is resumed by the next start', async () => {
  const study = newUid();
  for (const f of studyFiles(study, 2)) expect((await orthanc.api('POST', '/instances', f)).status).toBe(200);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'import-resume-'));
  const start = (): Promise<RunningServer> =>
    startServer(
      loadConfig(
        { HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir },
        // authRequired: false until the suite moves to tokens (test/helpers/auth.ts).
        { dicomWebPeers: { pacs: `${orthanc.url}/dicom-web` }, authRequired: false, passwordScryptCost: 14 },
      ),
      createLogger('silent'),
    );
  try {
    const first = await start();
    const id = '6f1c2d4e-0000-4000-8000-000000000001';
    // As a node that died mid-job leaves it: running, not touched for an hour.
    const hourAgo = new Date(Date.now() - 3_600_000);
    await first.db('dicom_import').insert({
      id,
      status: 'running',
      request: JSON.stringify({ peer: 'pacs', studies: [study], access: SYSTEM_ACCESS }),
      created_at: hourAgo,
      updated_at: hourAgo,
    });
    await first.close();
    const second = await start();
    try {
      let res = await fetch(`${second.url}/dicom-web/import/${id}`);
      for (let i = 0; res.status === 202 && i < 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        res = await fetch(`${second.url}/dicom-web/import/${id}`);
      }
      expect(res.status).toBe(200);
      expect(((await res.json()) as ImportJobBody).studies).toEqual([{ uid: study, stored: 2, failed: 0 }]);
    } finally {
      await second.close();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);
