import { Readable } from 'node:stream';
import { FhirError } from '../shared';
import { BULK_PREFIX } from './dicom-json';
import type { OutPart } from './multipart';
import { multipartStream, newBoundary } from './multipart';
import type { AcceptEntry } from './negotiate';
import { acceptList, acceptsJson } from './negotiate';
import type { PixelInfo } from './parse';
import type { InstanceRow } from './store';
import { EXPLICIT_VR_LE, frameMediaType, isEncapsulated } from './transfer-syntax';
import { canDecodeFrames, canTranscode, describeImage } from './codecs';
import type { DicomJson } from './dicom-json';
import { toExplicitLittleEndian } from './transcode';
import type { DicomWebDeps, DicomWebRequest, DicomWebResponse } from './types';
import { instanceUrl } from './urls';

export async function selectInstances(req: DicomWebRequest, deps: DicomWebDeps): Promise<InstanceRow[]> {
  const [, study, , series, , sop] = req.segments;
  const q = (await deps.repo.reader())('dicom_instance').where('study_uid', study ?? '');
  if (series) void q.where('series_uid', series);
  if (sop) void q.where('sop_uid', sop);
  const rows = (await q.orderBy([
    { column: 'series_uid' },
    { column: 'instance_number', nulls: 'last' },
    { column: 'sop_uid' },
  ])) as InstanceRow[];
  if (rows.length === 0) throw FhirError.of('not-found', 'No such study, series or instance');
  return rows;
}

function multipart(parts: Iterable<OutPart> | AsyncIterable<OutPart>, type: string): DicomWebResponse {
  const boundary = newBoundary();
  return {
    status: 200,
    contentType: `multipart/related; type="${type}"; boundary=${boundary}`,
    body: multipartStream(parts, boundary),
  };
}

interface SyntaxChoice {
  /** undefined: as stored. */
  target?: string;
  /** False when no syntax was named: then an instance that cannot be converted goes as stored. */
  strict: boolean;
}

/** Chooses the transfer syntax for application/dicom parts (PS3.18 8.7.3.5.2). */
function dicomSyntax(accepts: AcceptEntry[]): SyntaxChoice | null {
  if (accepts.length === 0) return { strict: false };
  for (const a of accepts) {
    if (a.type === '*/*' || a.type === 'multipart/*') return { strict: false };
    if (a.type !== 'multipart/related' && a.type !== 'application/dicom') continue;
    const partType =
      a.type === 'application/dicom' ? 'application/dicom' : (a.params.type ?? 'application/dicom');
    if (partType.toLowerCase() !== 'application/dicom') continue;
    const ts = a.params['transfer-syntax'];
    if (ts === '*') return { strict: false };
    return ts ? { target: ts, strict: true } : { target: EXPLICIT_VR_LE, strict: false };
  }
  return null;
}

/** WADO-RS retrieval of whole instances (study, series or one instance). */
export async function retrieveHandler(req: DicomWebRequest, deps: DicomWebDeps): Promise<DicomWebResponse> {
  const choice = dicomSyntax(acceptList(req));
  if (choice === null)
    throw new FhirError(406, {
      code: 'not-supported',
      message: 'Accept multipart/related; type="application/dicom"',
    });
  const { target, strict } = choice;
  const rows = await selectInstances(req, deps);
  for (const r of rows) {
    if (strict && target && !canTranscode(r.transfer_syntax, target))
      throw new FhirError(406, {
        code: 'not-supported',
        message: `Instance ${r.sop_uid} is stored as ${r.transfer_syntax} and cannot be converted to ${target}`,
      });
  }
  const parts = rows.map((r): OutPart => {
    const ts = target && canTranscode(r.transfer_syntax, target) ? target : r.transfer_syntax;
    return {
      contentType: `application/dicom; transfer-syntax=${ts}`,
      body:
        ts === r.transfer_syntax
          ? () => deps.blobs.get(r.blob_key)
          : async () => {
              const file = await deps.blobs.readAll(r.blob_key);
              const pixel = r.pixel ? (JSON.parse(r.pixel) as PixelInfo) : undefined;
              const img = describeImage(JSON.parse(r.metadata) as DicomJson);
              return Readable.from([
                await toExplicitLittleEndian(file, r.transfer_syntax, pixel, img, deps.codecs),
              ]);
            },
    };
  });
  return multipart(parts, 'application/dicom');
}

/** WADO-RS metadata: the stored DICOM JSON, with BulkDataURIs made absolute. */
export async function metadataHandler(req: DicomWebRequest, deps: DicomWebDeps): Promise<DicomWebResponse> {
  if (!acceptsJson(req))
    throw new FhirError(406, { code: 'not-supported', message: 'Only application/dicom+json is produced' });
  const rows = await selectInstances(req, deps);
  const needle = `"BulkDataURI":"${BULK_PREFIX}`;
  const items = rows.map((r) =>
    r.metadata
      .split(needle)
      .join(`"BulkDataURI":"${instanceUrl(deps, r.study_uid, r.series_uid, r.sop_uid)}/${BULK_PREFIX}`),
  );
  return { status: 200, contentType: 'application/dicom+json', body: `[${items.join(',')}]` };
}

function frameSyntax(accepts: AcceptEntry[], stored: string): string | undefined | null {
  const native = !isEncapsulated(stored);
  if (accepts.length === 0) return native ? EXPLICIT_VR_LE : undefined;
  for (const a of accepts) {
    if (a.type === '*/*' || a.type === 'multipart/*') return native ? EXPLICIT_VR_LE : undefined;
    if (a.type !== 'multipart/related') continue;
    const partType = (a.params.type ?? 'application/octet-stream').toLowerCase();
    const ts = a.params['transfer-syntax'];
    if (ts === '*') return native ? EXPLICIT_VR_LE : undefined;
    if (partType === 'application/octet-stream') {
      if (ts && ts !== EXPLICIT_VR_LE) continue;
      return EXPLICIT_VR_LE;
    }
    if (!native && sameFrameType(partType, frameMediaType(stored)) && (!ts || ts === stored))
      return undefined;
  }
  return null;
}

/** WADO-RS frames (PS3.18 10.4.1.1.3): one part per requested frame, in the requested order. */
export async function framesHandler(req: DicomWebRequest, deps: DicomWebDeps): Promise<DicomWebResponse> {
  const list = (req.segments[7] ?? '').split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1))
    throw FhirError.of('invalid', 'Frame numbers must be a comma-separated list of integers from 1');
  const [row] = await selectInstances(req, deps);
  if (!row?.pixel) throw FhirError.of('not-found', 'The instance has no addressable pixel data');
  const pixel = JSON.parse(row.pixel) as PixelInfo;
  const missing = list.filter((n) => n > pixel.frames.length);
  if (missing.length > 0) throw FhirError.of('not-found', `No frame ${missing.join(', ')} in this instance`);
  const target = frameSyntax(acceptList(req), row.transfer_syntax);
  if (target === null || (target === EXPLICIT_VR_LE && !canDecodeFrames(row.transfer_syntax)))
    throw new FhirError(406, {
      code: 'not-supported',
      message: 'The frames cannot be produced in the requested media type',
    });
  const img = describeImage(JSON.parse(row.metadata) as DicomJson);
  const parts: OutPart[] = [];
  for (const n of list) {
    let bytes = await deps.blobs.readRanges(row.blob_key, pixel.frames[n - 1] ?? []);
    if (target === EXPLICIT_VR_LE) bytes = (await deps.codecs.decode(bytes, row.transfer_syntax, img)).pixels;
    const ts = target ?? row.transfer_syntax;
    const type = target ? 'application/octet-stream' : frameMediaType(ts);
    parts.push({
      contentType: `${type}; transfer-syntax=${ts}`,
      headers: {
        'Content-Location': `${instanceUrl(deps, row.study_uid, row.series_uid, row.sop_uid)}/frames/${n}`,
      },
      body: bytes,
    });
  }
  const type = target ? 'application/octet-stream' : frameMediaType(row.transfer_syntax);
  return multipart(parts, type);
}

/** WADO-RS bulk data: the bytes behind a BulkDataURI from the metadata. */
export async function bulkdataHandler(req: DicomWebRequest, deps: DicomWebDeps): Promise<DicomWebResponse> {
  const path = req.segments.slice(7).join('/');
  const [row] = await selectInstances(req, deps);
  if (!row) throw FhirError.of('not-found', 'No such instance');
  const url = `${instanceUrl(deps, row.study_uid, row.series_uid, row.sop_uid)}/bulkdata/${path}`;
  if (path === '7FE00010') {
    if (!row.pixel) throw FhirError.of('not-found', 'The instance has no addressable pixel data');
    const pixel = JSON.parse(row.pixel) as PixelInfo;
    const parts: OutPart[] = pixel.frames.map((ranges) => ({
      contentType: `${pixel.encapsulated ? frameMediaType(row.transfer_syntax) : 'application/octet-stream'}; transfer-syntax=${row.transfer_syntax}`,
      headers: { 'Content-Location': url },
      body: async () => Readable.from([await deps.blobs.readRanges(row.blob_key, ranges)]),
    }));
    return multipart(
      parts,
      pixel.encapsulated ? frameMediaType(row.transfer_syntax) : 'application/octet-stream',
    );
  }
  const range = (JSON.parse(row.bulk) as Record<string, [number, number] | undefined>)[path];
  if (!range) throw FhirError.of('not-found', `No bulk data at ${path}`);
  const bytes = await deps.blobs.readRanges(row.blob_key, [range]);
  return multipart(
    [{ contentType: 'application/octet-stream', headers: { 'Content-Location': url }, body: bytes }],
    'application/octet-stream',
  );
}

/** image/x-dicom-rle and image/x-jls are the pre-standard names some clients still send. */
function sameFrameType(asked: string, stored: string): boolean {
  return asked.replace('/x-', '/') === stored;
}
