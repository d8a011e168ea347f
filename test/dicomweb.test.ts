import fs from 'node:fs';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import { PDFDocument } from 'pdf-lib';
import type { TestServer } from './helpers/server';
import { fhirFetch, startTestServer } from './helpers/server';
import type { DicomWebClient } from './helpers/dicom';
import {
  dicomWebClient,
  editFile,
  instancePath,
  multipartBody,
  newUid,
  parseMultipartResponse,
  STOW_TYPE,
  testFile,
  withNewUids,
} from './helpers/dicom';

let server: TestServer;
let client: DicomWebClient;
type Json = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string }>;

beforeAll(async () => {
  server = await startTestServer({ dicomMaxInstanceBytes: 2 * 1024 * 1024 });
  client = dicomWebClient(`${server.url}/dicom-web`);
});
afterAll(async () => {
  await server.close();
});

async function stow(
  parts: Buffer[],
  study?: string,
  contentType = STOW_TYPE,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${server.url}/dicom-web/studies${study ? `/${study}` : ''}`, {
    method: 'POST',
    headers: { 'Content-Type': contentType, Accept: 'application/dicom+json' },
    body: multipartBody(parts),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Json) : {},
  };
}

function seq(body: Json, tag: string): Json[] {
  return (body[tag]?.Value ?? []) as Json[];
}

function uidOf(file: Buffer, tag: string): string {
  const ds = dicomParser.parseDicom(new Uint8Array(file.buffer, file.byteOffset, file.length));
  return (ds.string(`x${tag.toLowerCase()}`) ?? '').replace(/\0/g, '').trim();
}

function storedFiles(): string[] {
  const root = path.join(server.dataDir, 'blobs', 'sha256');
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root).flatMap((d) => fs.readdirSync(path.join(root, d)));
}

async function rowCount(table: string): Promise<number> {
  const row = (await server.db(table).count('* as c').first()) as { c: string | number };
  return Number(row.c);
}

test('STOW-RS stores good instances and fails each bad one with its own reason, leaving nothing partial', async () => {
  const good = withNewUids(testFile('CT_small.dcm'), { study: newUid(), series: newUid() });
  const noSop = editFile(withNewUids(testFile('MR_small.dcm')), (d) => {
    delete d['00080018'];
  });
  const bomb = editFile(withNewUids(testFile('MR_small.dcm')), (d) => {
    d['00280010'] = { vr: 'US', Value: [60000] };
    d['00280011'] = { vr: 'US', Value: [60000] };
    d['00280008'] = { vr: 'IS', Value: [1000] };
  });
  const short = editFile(withNewUids(testFile('MR_small.dcm')), (d) => {
    d['00280008'] = { vr: 'IS', Value: [40] };
  });
  const big = withNewUids(testFile('CT_small.dcm'));
  const oversize = Buffer.concat([big, Buffer.alloc(3 * 1024 * 1024)]);
  const filesBefore = storedFiles().length;
  const { status, body } = await stow([
    good,
    testFile('MR_truncated.dcm'),
    Buffer.from('this is not DICOM at all, just text'),
    Buffer.alloc(0),
    noSop,
    bomb,
    short,
    oversize,
  ]);
  expect(status).toBe(202);
  const referenced = seq(body, '00081199');
  expect(referenced).toHaveLength(1);
  expect(referenced[0]?.['00081155']?.Value).toEqual([uidOf(good, '00080018')]);
  expect(String(referenced[0]?.['00081190']?.Value?.[0])).toContain(`/instances/${uidOf(good, '00080018')}`);
  const reasons = seq(body, '00081198').map((f) => f['00081197']?.Value?.[0]);
  expect(reasons).toEqual([0xc000, 0xc000, 0xc000, 0xa900, 0xa700, 0xa900, 0xa700]);
  // Only the stored instance's file is left; the failed parts left no blob and no row.
  expect(storedFiles().length).toBe(filesBefore + 1);
  expect(
    await server.db('dicom_instance').where('sop_uid', uidOf(short, '00080018')).first(),
  ).toBeUndefined();
});

test('STOW-RS statuses: 200 all stored, 409 none stored, 415 wrong media type, 400 unreadable body', async () => {
  const a = withNewUids(testFile('MR_small.dcm'), { study: newUid(), series: newUid() });
  expect((await stow([a])).status).toBe(200);
  expect((await stow([Buffer.from('nope')])).status).toBe(409);
  expect((await stow([a], undefined, 'application/dicom')).status).toBe(415);
  const res = await fetch(`${server.url}/dicom-web/studies`, {
    method: 'POST',
    headers: { 'Content-Type': STOW_TYPE },
    body: 'no multipart delimiter anywhere',
  });
  expect(res.status).toBe(400);
});

test('STOW-RS names each failed part and its reason: a Warning header and ErrorComment per failure', async () => {
  const pdf = await PDFDocument.create();
  pdf.addPage().drawText('Hemoglobin 9.1 g/dL', { x: 50, y: 700, size: 12 });
  const pdfBytes = Buffer.from(await pdf.save());
  const good = withNewUids(testFile('CT_small.dcm'), { study: newUid(), series: newUid() });
  const boundary = 'b-7f3a';
  const part = (type: string, bytes: Buffer): Buffer =>
    Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: ${type}\r\n\r\n`),
      bytes,
      Buffer.from('\r\n'),
    ]);
  const send = async (...parts: Buffer[]): Promise<{ status: number; warning: string; body: Json }> => {
    const res = await fetch(`${server.url}/dicom-web/studies`, {
      method: 'POST',
      headers: { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}` },
      body: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]),
    });
    return {
      status: res.status,
      warning: res.headers.get('warning') ?? '',
      body: (await res.json()) as Json,
    };
  };
  // A PDF posted as DICOM, alone: nothing stored.
  const alone = await send(part('application/dicom', pdfBytes));
  expect(alone.status).toBe(409);
  expect(alone.warning).toBe(
    `299 ${server.url}/dicom-web: "Part 1: Not a DICOM Part 10 file (no DICM prefix) (failure reason 0xC000)"`,
  );
  expect(seq(alone.body, '00081198')[0]?.['00000902']).toEqual({
    vr: 'LO',
    Value: ['Part 1: Not a DICOM Part 10 file (no DICM prefix)'],
  });

  const bomb = editFile(withNewUids(testFile('MR_small.dcm')), (d) => {
    d['00280010'] = { vr: 'US', Value: [60000] };
    d['00280011'] = { vr: 'US', Value: [60000] };
    d['00280008'] = { vr: 'IS', Value: [1000] };
  });
  const mixed = await send(
    part('application/dicom', good),
    part('application/dicom', pdfBytes),
    part('application/pdf', pdfBytes),
    part('application/dicom', bomb),
  );
  expect(mixed.status).toBe(202);
  const declared = 'Part 4: Declared image size (1000 frames of 60000x60000x1) exceeds the configured limits';
  expect(mixed.warning.split('", 299 ')).toEqual([
    expect.stringContaining('"Part 2: Not a DICOM Part 10 file'),
    expect.stringContaining(
      'Part 3: Media type application/pdf is not application/dicom (failure reason 0xC000)',
    ),
    expect.stringContaining(`${declared} (failure reason 0xA700)"`),
  ]);
  const comments = seq(mixed.body, '00081198').map((f) => f['00000902']?.Value?.[0] as string);
  // ErrorComment is an LO of at most 64 characters: a longer reason is cut there.
  expect(comments).toEqual([
    'Part 2: Not a DICOM Part 10 file (no DICM prefix)',
    'Part 3: Media type application/pdf is not application/dicom',
    `${declared.slice(0, 61)}...`,
  ]);
  expect(mixed.warning).not.toContain(uidOf(good, '0020000D'));
});

test('STOW-RS to /studies/{study} fails only the instance of another study', async () => {
  const study = newUid();
  const inStudy = withNewUids(testFile('MR_small.dcm'), { study, series: newUid() });
  const elsewhere = withNewUids(testFile('CT_small.dcm'), { study: newUid(), series: newUid() });
  const { status, body } = await stow([inStudy, elsewhere], study);
  expect(status).toBe(202);
  expect(seq(body, '00081199')).toHaveLength(1);
  const failed = seq(body, '00081198');
  expect(failed[0]?.['00081197']?.Value).toEqual([0xa900]);
  expect(failed[0]?.['00081155']?.Value).toEqual([uidOf(elsewhere, '00080018')]);
  expect(body['00081190']?.Value?.[0]).toBe(`${server.url}/dicom-web/studies/${study}`);
});

test('re-sending an instance is idempotent: no duplicate row, no new ImagingStudy version', async () => {
  const study = newUid();
  const file = withNewUids(testFile('CT_small.dcm'), { study, series: newUid() });
  expect((await stow([file])).status).toBe(200);
  const first = await fhirFetch(server, `ImagingStudy/${study}`);
  expect((await stow([file])).status).toBe(200);
  const again = await fhirFetch(server, `ImagingStudy/${study}`);
  expect(again.body.meta.versionId).toBe(first.body.meta.versionId);
  expect(
    Number(
      ((await server.db('dicom_instance').where('study_uid', study).count('* as c').first()) as { c: string })
        .c,
    ),
  ).toBe(1);
});

describe('a stored study', () => {
  const study = newUid();
  const seriesA = newUid();
  const seriesB = newUid();
  // Every instance of a study carries the same patient and study attributes, as modalities send them.
  const sameStudy = (d: Record<string, { vr?: string; Value?: unknown[] }>): void => {
    d['00100010'] = { vr: 'PN', Value: [{ Alphabetic: 'Qidotest^Hannah^Marie' }] };
    d['00100020'] = { vr: 'LO', Value: [`PID-${study.slice(-8)}`] };
    d['00080020'] = { vr: 'DA', Value: ['20230415'] };
    d['00080050'] = { vr: 'SH', Value: [`ACC${study.slice(-6)}`] };
  };
  const mrFiles = [0, 1, 2].map((n) =>
    editFile(withNewUids(testFile('MR_small.dcm'), { study, series: seriesA }), (d) => {
      sameStudy(d);
      d['00200013'] = { vr: 'IS', Value: [n + 1] };
    }),
  );
  const rle = editFile(withNewUids(testFile('MR_small_RLE.dcm'), { study, series: seriesB }), (d) => {
    sameStudy(d);
    d['00080060'] = { vr: 'CS', Value: ['OT'] };
  });
  const implicit = editFile(
    withNewUids(testFile('MR_small_implicit.dcm'), { study, series: seriesB }),
    (d) => {
      sameStudy(d);
      d['00080060'] = { vr: 'CS', Value: ['OT'] };
    },
  );

  beforeAll(async () => {
    const res = await stow([...mrFiles, rle, implicit]);
    expect(res.status).toBe(200);
  });

  test('QIDO-RS study level: wildcards, fuzzy names, date ranges, modalities, computed attributes', async () => {
    const byName = (await client.searchForStudies({
      queryParams: { PatientName: 'QIDOTEST^HAN*' },
    })) as Json[];
    expect(byName.map((s) => s['0020000D']?.Value?.[0])).toContain(study);
    const fuzzy = (await client.searchForStudies({
      queryParams: { PatientName: 'mari', fuzzymatching: 'true' },
    })) as Json[];
    expect(fuzzy.map((s) => s['0020000D']?.Value?.[0])).toContain(study);
    const inRange = (await client.searchForStudies({
      queryParams: { StudyDate: '20230401-20230430', ModalitiesInStudy: 'OT', StudyInstanceUID: study },
    })) as Json[];
    expect(inRange).toHaveLength(1);
    const s = inRange[0] as Json;
    expect(s['00201206']?.Value).toEqual([2]);
    expect(s['00201208']?.Value).toEqual([5]);
    expect((s['00080061']?.Value ?? []).sort()).toEqual(['MR', 'OT']);
    expect(s['00081190']?.Value).toEqual([`${server.url}/dicom-web/studies/${study}`]);
    const outOfRange = (await client.searchForStudies({
      queryParams: { StudyDate: '-20230101', StudyInstanceUID: study },
    })) as Json[];
    expect(outOfRange).toHaveLength(0);
    // An ISO date is the usual mistake: the answer names the DICOM format.
    for (const [key, value] of [
      ['StudyDate', '2023-04-01'],
      ['StudyDate', '20230401-2023-04-30'],
      ['StudyTime', '10:00'],
    ]) {
      const bad = await fetch(`${server.url}/dicom-web/studies?${key}=${value}`);
      expect(bad.status).toBe(400);
      expect(await bad.text()).toContain(key === 'StudyDate' ? 'use YYYYMMDD' : 'use HHMMSS');
    }
    const acc = (await client.searchForStudies({
      queryParams: { AccessionNumber: `ACC${study.slice(-6)}`, includefield: '00081030,Modality' },
    })) as Json[];
    expect(acc).toHaveLength(1);
  });

  test('QIDO-RS series and instance levels, includefield, limit/offset with the truncation warning', async () => {
    const series = (await client.searchForSeries({ studyInstanceUID: study })) as Json[];
    expect(series.map((s) => s['0020000E']?.Value?.[0]).sort()).toEqual([seriesA, seriesB].sort());
    expect(series.find((s) => s['0020000E']?.Value?.[0] === seriesA)?.['00201209']?.Value).toEqual([3]);
    const mr = (await client.searchForSeries({
      queryParams: { Modality: 'MR', StudyInstanceUID: study },
    })) as Json[];
    expect(mr.map((s) => s['0020000E']?.Value?.[0])).toEqual([seriesA]);
    const instances = (await client.searchForInstances({
      studyInstanceUID: study,
      seriesInstanceUID: seriesA,
    })) as Json[];
    expect(instances.map((i) => i['00200013']?.Value?.[0])).toEqual([1, 2, 3]);
    const one = (await client.searchForInstances({
      studyInstanceUID: study,
      queryParams: { SOPInstanceUID: uidOf(rle, '00080018'), includefield: 'all' },
    })) as Json[];
    expect(one).toHaveLength(1);
    expect(one[0]?.['00280010']?.Value).toEqual([64]);
    const res = await fetch(`${server.url}/dicom-web/studies/${study}/instances?limit=2&offset=1`, {
      headers: { Accept: '*/*' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/dicom+json');
    expect(((await res.json()) as Json[]).length).toBe(2);
    expect(res.headers.get('warning')).toContain('additional results');
    const bad = await fetch(`${server.url}/dicom-web/studies?NotAKeyword=1`);
    expect(bad.status).toBe(400);
  });

  test('WADO-RS returns stored bytes unchanged with transfer-syntax=*, and transcodes when asked', async () => {
    const sop = uidOf(mrFiles[0] as Buffer, '00080018');
    const original = (await client.retrieveInstance({
      studyInstanceUID: study,
      seriesInstanceUID: seriesA,
      sopInstanceUID: sop,
    })) as ArrayBuffer;
    // Stored as Explicit VR Little Endian, the default syntax: returned byte for byte.
    expect(Buffer.from(original).equals(mrFiles[0] as Buffer)).toBe(true);
    const asStored = await fetch(
      `${server.url}/dicom-web/studies/${study}/series/${seriesB}/instances/${uidOf(implicit, '00080018')}`,
      { headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' } },
    );
    const [stored] = parseMultipartResponse(
      Buffer.from(await asStored.arrayBuffer()),
      asStored.headers.get('content-type') ?? '',
    );
    expect(stored?.body.equals(implicit)).toBe(true);
    expect(stored?.headers).toMatch(/transfer-syntax=1\.2\.840\.10008\.1\.2$/);
    const series = (await client.retrieveSeries({
      studyInstanceUID: study,
      seriesInstanceUID: seriesA,
    })) as ArrayBuffer[];
    expect(series).toHaveLength(3);

    // Implicit VR and RLE become Explicit VR Little Endian with the same pixels as the reference file.
    const reference = testFile('MR_small.dcm');
    const refDs = dicomParser.parseDicom(new Uint8Array(reference));
    const refPixels = Buffer.from(
      reference.subarray(
        refDs.elements.x7fe00010?.dataOffset,
        (refDs.elements.x7fe00010?.dataOffset ?? 0) + (refDs.elements.x7fe00010?.length ?? 0),
      ),
    );
    for (const file of [implicit, rle]) {
      const res = await fetch(
        `${server.url}/dicom-web/studies/${study}/series/${seriesB}/instances/${uidOf(file, '00080018')}`,
        {
          headers: {
            Accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1',
          },
        },
      );
      expect(res.status).toBe(200);
      const [part] = parseMultipartResponse(
        Buffer.from(await res.arrayBuffer()),
        res.headers.get('content-type') ?? '',
      );
      expect(part?.headers).toContain('transfer-syntax=1.2.840.10008.1.2.1');
      const ds = dicomParser.parseDicom(new Uint8Array(part?.body ?? Buffer.alloc(0)));
      expect(ds.string('x00020010')?.replace(/\0/g, '')).toBe('1.2.840.10008.1.2.1');
      const pd = ds.elements.x7fe00010;
      expect(
        Buffer.from(
          (part?.body ?? Buffer.alloc(0)).subarray(pd?.dataOffset, (pd?.dataOffset ?? 0) + (pd?.length ?? 0)),
        ).equals(refPixels),
      ).toBe(true);
    }
    // This server decodes but does not encode: asking for JPEG of an uncompressed instance is 406.
    const res = await fetch(
      `${server.url}/dicom-web/studies/${study}/series/${seriesB}/instances/${uidOf(implicit, '00080018')}`,
      {
        headers: {
          Accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50',
        },
      },
    );
    expect(res.status).toBe(406);
  });

  test('WADO-RS metadata carries BulkDataURIs that bulkdata and frames retrieval resolve', async () => {
    const meta = (await client.retrieveStudyMetadata({ studyInstanceUID: study })) as Json[];
    expect(meta).toHaveLength(5);
    const first = meta.find(
      (m) => m['00080018']?.Value?.[0] === uidOf(mrFiles[0] as Buffer, '00080018'),
    ) as Json;
    const uri = first['7FE00010']?.BulkDataURI ?? '';
    expect(uri.startsWith(`${server.url}/dicom-web/studies/${study}/series/${seriesA}/instances/`)).toBe(
      true,
    );
    const bulk = (await client.retrieveBulkData({ BulkDataURI: uri })) as ArrayBuffer[];
    const ds = dicomParser.parseDicom(new Uint8Array(mrFiles[0] as Buffer));
    const pd = ds.elements.x7fe00010;
    const expected = (mrFiles[0] as Buffer).subarray(
      pd?.dataOffset,
      (pd?.dataOffset ?? 0) + (pd?.length ?? 0),
    );
    expect(Buffer.from(bulk[0] as ArrayBuffer).equals(expected)).toBe(true);
    const frames = (await client.retrieveInstanceFrames({
      studyInstanceUID: study,
      seriesInstanceUID: seriesB,
      sopInstanceUID: uidOf(rle, '00080018'),
      frameNumbers: [1],
    })) as ArrayBuffer[];
    // The RLE frame decoded to native pixels equals the uncompressed reference.
    expect(Buffer.from(frames[0] as ArrayBuffer).equals(expected)).toBe(true);
    const missing = await fetch(
      `${server.url}/dicom-web/studies/${study}/series/${seriesA}/instances/${uidOf(mrFiles[0] as Buffer, '00080018')}/frames/2`,
    );
    expect(missing.status).toBe(404);
  });

  test('the study has one ImagingStudy linked to a Patient found by PatientID and to the WADO-RS Endpoint', async () => {
    const is = await fhirFetch(server, `ImagingStudy?identifier=urn:dicom:uid|urn:oid:${study}`);
    expect(is.body.entry).toHaveLength(1);
    const r = is.body.entry[0].resource;
    expect(r.numberOfSeries).toBe(2);
    expect(r.numberOfInstances).toBe(5);
    expect(r.started).toBe('2023-04-15T18:50:59-04:00');
    expect(r.series.find((s: { uid: string }) => s.uid === seriesA).instance).toHaveLength(3);
    const patient = await fhirFetch(server, r.subject.reference);
    expect(patient.body.identifier[0]).toEqual({
      system: 'urn:dicom:patient-id',
      value: `PID-${study.slice(-8)}`,
    });
    expect(patient.body.name[0]).toEqual({ family: 'Qidotest', given: ['Hannah', 'Marie'] });
    const endpoint = await fhirFetch(server, r.endpoint[0].reference);
    expect(endpoint.body.connectionType.code).toBe('dicom-wado-rs');
    expect(endpoint.body.address).toBe(`${server.url}/dicom-web`);
    const search = await fhirFetch(
      server,
      `ImagingStudy?patient=${r.subject.reference}&started=ge2023-04-01&modality=http://dicom.nema.org/resources/ontology/DCM|MR`,
    );
    expect(search.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual([study]);
  });

  test('DELETE of an instance, a series and the study keeps the ImagingStudy in step and removes files', async () => {
    const sop = uidOf(mrFiles[2] as Buffer, '00080018');
    const filesBefore = storedFiles().length;
    expect(
      (
        await fetch(`${server.url}/dicom-web/studies/${study}/series/${seriesA}/instances/${sop}`, {
          method: 'DELETE',
        })
      ).status,
    ).toBe(204);
    expect((await fhirFetch(server, `ImagingStudy/${study}`)).body.numberOfInstances).toBe(4);
    expect(storedFiles().length).toBe(filesBefore - 1);
    expect(
      (await fetch(`${server.url}/dicom-web/studies/${study}/series/${seriesB}`, { method: 'DELETE' }))
        .status,
    ).toBe(204);
    const after = (await fhirFetch(server, `ImagingStudy/${study}`)).body;
    expect(after.numberOfSeries).toBe(1);
    expect(after.numberOfInstances).toBe(2);
    expect((await fetch(`${server.url}/dicom-web/studies/${study}`, { method: 'DELETE' })).status).toBe(204);
    expect((await fhirFetch(server, `ImagingStudy/${study}`)).status).toBe(410);
    expect((await fetch(`${server.url}/dicom-web/studies/${study}/metadata`)).status).toBe(404);
    expect(await rowCount('dicom_study')).toBeGreaterThan(0);
    expect(await server.db('dicom_study').where('study_uid', study).first()).toBeUndefined();
  });
});

test('the same SOP Instance twice in one request keeps the last copy and one row', async () => {
  const study = newUid();
  const first = withNewUids(testFile('MR_small.dcm'), { study, series: newUid() });
  const second = editFile(first, (d) => {
    d['00200013'] = { vr: 'IS', Value: [99] };
  });
  const { status, body } = await stow([first, second]);
  expect(status).toBe(200);
  expect(seq(body, '00081199')).toHaveLength(2);
  const rows: { instance_number: number }[] = await server.db('dicom_instance').where('study_uid', study);
  expect(rows.map((r) => r.instance_number)).toEqual([99]);
});

test('concurrent one-instance STOW requests for one study land in one consistent ImagingStudy, committed together', async () => {
  // A server whose commits wait as long as needed for requests already being received, and
  // requests whose bodies are held until all eight are in: one transaction, whatever the load.
  const own = await startTestServer({ dicomCommitWaitMs: 60_000 });
  try {
    const study = newUid();
    const series = newUid();
    const files = Array.from({ length: 8 }, () => withNewUids(testFile('MR_small.dcm'), { study, series }));
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const requests = files.map(async (file) => {
      const body = multipartBody([file]);
      const res = await fetch(`${own.url}/dicom-web/studies`, {
        method: 'POST',
        headers: { 'Content-Type': STOW_TYPE },
        body: new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(body.subarray(0, 100));
            await released;
            controller.enqueue(body.subarray(100));
            controller.close();
          },
        }),
        duplex: 'half',
      });
      await res.arrayBuffer();
      return res.status;
    });
    while (own.inFlight.count < 8) await new Promise((r) => setTimeout(r, 5));
    release();
    expect(await Promise.all(requests)).toEqual(Array.from({ length: 8 }, () => 200));
    const is = await fhirFetch(own, `ImagingStudy/${study}`);
    expect(is.body.numberOfInstances).toBe(8);
    expect(is.body.meta.versionId).toBe('1');
    expect(is.body.series[0].instance).toHaveLength(8);
    const byInstance = await fhirFetch(own, `ImagingStudy?instance=${uidOf(files[7] as Buffer, '00080018')}`);
    expect(byInstance.body.entry).toHaveLength(1);
  } finally {
    await own.close();
  }
});

test('a Patient the EHR has since edited is linked to the next study as it is, not overwritten', async () => {
  const pid = `PID-${newUid().slice(-10)}`;
  const withPatient = (): Buffer =>
    editFile(withNewUids(testFile('MR_small.dcm'), { study: newUid(), series: newUid() }), (d) => {
      d['00100020'] = { vr: 'LO', Value: [pid] };
      d['00100010'] = { vr: 'PN', Value: [{ Alphabetic: 'Dicom^Name' }] };
    });
  const first = withPatient();
  expect((await stow([first])).status).toBe(200);
  const firstStudy = await fhirFetch(server, `ImagingStudy/${uidOf(first, '0020000D')}`);
  const ref: string = firstStudy.body.subject.reference;
  // The EHR moves the patient to its own MRN system and corrects the name.
  const edited = {
    ...(await fhirFetch(server, ref)).body,
    identifier: [{ system: 'urn:example:mrn', value: pid }],
    name: [{ family: 'Corrected', given: ['Name'] }],
  };
  expect((await fhirFetch(server, ref, { method: 'PUT', body: edited })).status).toBe(200);

  const second = withPatient();
  expect((await stow([second])).status).toBe(200);
  const secondStudy = await fhirFetch(server, `ImagingStudy/${uidOf(second, '0020000D')}`);
  expect(secondStudy.body.subject.reference).toBe(ref);
  const patient = await fhirFetch(server, ref);
  expect(patient.body.name).toEqual([{ family: 'Corrected', given: ['Name'] }]);
  expect(patient.body.meta.versionId).toBe('2');
});

test('bytes shared by a DICOM instance and a Binary survive the removal of either owner', async () => {
  const file = withNewUids(testFile('MR_small.dcm'), { study: newUid(), series: newUid() });
  const url = `${server.url}${instancePath(file)}`;
  expect((await stow([file])).status).toBe(200);
  // A transaction holding a Binary with the same bytes fails: its rollback must keep the instance's file.
  const failed = await fhirFetch(server, '', {
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: {
            resourceType: 'Binary',
            contentType: 'application/dicom',
            data: file.toString('base64'),
          },
          request: { method: 'POST', url: 'Binary' },
        },
        {
          resource: { resourceType: 'Observation', status: 'bogus', code: { text: 'x' } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    },
  });
  expect(failed.status).toBe(400);
  const asStored = { headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' } };
  let res = await fetch(url, asStored);
  expect(res.status).toBe(200);
  const [part] = parseMultipartResponse(
    Buffer.from(await res.arrayBuffer()),
    res.headers.get('content-type') ?? '',
  );
  expect(part?.body.equals(file)).toBe(true);
  // Now the Binary really stores it, and the instance is deleted: the Binary keeps its bytes.
  const created = await fetch(`${server.fhirBase}/Binary`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/dicom' },
    body: file,
  });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  expect((await fetch(url, { method: 'DELETE' })).status).toBe(204);
  res = await fetch(`${server.fhirBase}/Binary/${id}`, { headers: { Accept: 'application/dicom' } });
  expect(Buffer.from(await res.arrayBuffer()).equals(file)).toBe(true);
});
