import dicomParser from 'dicom-parser';
import type { Orthanc } from './helpers/orthanc';
import { startOrthanc } from './helpers/orthanc';
import type { TestServer } from './helpers/server';
import { fhirFetch, startTestServer } from './helpers/server';
import {
  editFile,
  multipartBody,
  newUid,
  parseMultipartResponse,
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
  server = await startTestServer();
  orthanc = await startOrthanc();
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
  const res = await fetch(`${server.url}/dicom-web/studies/${study}`, {
    headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
  });
  const parts = parseMultipartResponse(
    Buffer.from(await res.arrayBuffer()),
    res.headers.get('content-type') ?? '',
  );
  expect(parts).toHaveLength(3);
  const sent = new Set(files.map((f) => f.toString('base64')));
  for (const p of parts) expect(sent.has(p.body.toString('base64'))).toBe(true);
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
