import { Readable } from 'node:stream';
import { badRequest, FhirError } from '../shared';
import type { DecodedFrame, ImageDescription } from './codecs';
import { canDecodeFrames, describeImage } from './codecs';
import type { DicomJson } from './dicom-json';
import { parseInstance } from './parse';
import type { OutPart } from './multipart';
import { multipartStream, newBoundary } from './multipart';
import { acceptList } from './negotiate';
import type { PixelInfo } from './parse';
import type { Palette, RenderedType, RenderOptions, Viewport } from './render';
import { encodeImage, fitInside, renderFrame } from './render';
import type { InstanceRow } from './store';
import { frameBytes, toExplicitLittleEndian } from './transcode';
import type { DicomWebDeps, DicomWebRequest, DicomWebResponse } from './types';
import { instanceUrl } from './urls';
import { selectInstances } from './wado';

const THUMBNAIL_BOX = 128;
const DEFAULT_QUALITY = 90;

interface Query {
  type: RenderedType;
  quality: number;
  render: RenderOptions;
  warnings: string[];
}

/** The rendered media type from Accept: image/jpeg unless PNG is preferred (PS3.18 8.7.4). */
function renderedType(req: DicomWebRequest): RenderedType {
  const accepts = acceptList(req);
  if (accepts.length === 0) return 'image/jpeg';
  for (const a of accepts) {
    const type = a.type === 'multipart/related' ? (a.params.type ?? '').toLowerCase() : a.type;
    if (type === 'image/png') return 'image/png';
    if (['image/jpeg', 'image/*', '*/*', 'multipart/*'].includes(type)) return 'image/jpeg';
  }
  throw new FhirError(406, {
    code: 'not-supported',
    message: 'Rendered images are produced as image/jpeg or image/png',
  });
}

function numbers(raw: string, param: string): (number | undefined)[] {
  return raw.split(',').map((s) => {
    if (s.trim() === '') return undefined;
    const n = Number(s);
    if (!Number.isFinite(n)) throw badRequest(`${param} values must be numbers`, param);
    return n;
  });
}

function parseViewport(raw: string): Omit<Viewport, 'region'> & { region?: (number | undefined)[] } {
  const v = numbers(raw, 'viewport');
  const [vw, vh] = v;
  if (
    v.length < 2 ||
    v.length > 6 ||
    !Number.isInteger(vw) ||
    !Number.isInteger(vh) ||
    (vw ?? 0) < 1 ||
    (vh ?? 0) < 1 ||
    (vw ?? 0) * (vh ?? 0) > 64_000_000
  )
    throw badRequest('viewport is vw,vh[,sx,sy,sw,sh] with a positive width and height', 'viewport');
  return { width: vw ?? 1, height: vh ?? 1, ...(v.length > 2 && { region: v.slice(2) }) };
}

/** Query parameters of rendered resources (PS3.18 8.3.5.1); thumbnails take only viewport. */
function parseQuery(
  req: DicomWebRequest,
  thumbnail: boolean,
): Query & { viewport?: ReturnType<typeof parseViewport> } {
  const q: Query & { viewport?: ReturnType<typeof parseViewport> } = {
    type: renderedType(req),
    quality: DEFAULT_QUALITY,
    render: {},
    warnings: [],
  };
  for (const [key, value] of req.query) {
    if (key === 'accept') continue;
    if (key === 'viewport') q.viewport = parseViewport(value);
    else if (thumbnail && key !== 'charset') q.warnings.push(`${key} does not apply to thumbnails`);
    else if (key === 'quality') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1 || n > 100)
        throw badRequest('quality is an integer from 1 to 100', 'quality');
      q.quality = n;
    } else if (key === 'window') {
      const parts = value.split(',');
      const [center, width] = numbers(parts.slice(0, 2).join(','), 'window');
      const fn = (parts[2] ?? 'linear').trim().toLowerCase();
      if (center === undefined || width === undefined || width < 1 || parts.length > 3)
        throw badRequest('window is center,width[,function] with a width of at least 1', 'window');
      if (fn !== 'linear')
        throw new FhirError(400, {
          code: 'not-supported',
          message: `The VOI LUT function ${fn} is not supported; use linear`,
          expression: 'window',
        });
      q.render.window = { center, width };
    } else if (key === 'annotation' || key === 'iccprofile') {
      if (!(key === 'iccprofile' && value === 'no'))
        q.warnings.push(`${key} is not supported and was ignored`);
    } else if (key !== 'charset') {
      throw badRequest(`Unknown query parameter ${key}`, key);
    }
  }
  return q;
}

/** The full viewport for an image of this size, or the thumbnail default. */
function viewportFor(
  q: ReturnType<typeof parseQuery>,
  width: number,
  height: number,
  thumbnail: boolean,
): Viewport | undefined {
  const v = q.viewport;
  if (!v) return thumbnail ? { ...fitInside(width, height, THUMBNAIL_BOX) } : undefined;
  const [sx = 0, sy = 0, sw, sh] = v.region ?? [];
  return {
    width: v.width,
    height: v.height,
    region: { x: sx, y: sy, width: sw ?? width - sx, height: sh ?? height - sy },
  };
}

async function loadPalette(
  deps: DicomWebDeps,
  row: InstanceRow,
  metadata: DicomJson,
): Promise<Palette | undefined> {
  const bulk = JSON.parse(row.bulk) as Record<string, [number, number] | undefined>;
  const lut = async (tag: string): Promise<ArrayBuffer> => {
    const attr = metadata[tag];
    const range = bulk[tag];
    const bytes = attr?.InlineBinary
      ? Buffer.from(attr.InlineBinary, 'base64')
      : range
        ? await deps.blobs.readRanges(row.blob_key, [range])
        : undefined;
    if (!bytes) throw FhirError.of('processing', `Palette lookup table ${tag} is missing`);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
  };
  const descriptor = (tag: string): number[] => (metadata[tag]?.Value ?? []).map(Number);
  return {
    descriptors: [descriptor('00281101'), descriptor('00281102'), descriptor('00281103')],
    data: [await lut('00281201'), await lut('00281202'), await lut('00281203')],
  };
}

/** Frame `n` (from 1) decoded to native pixels; deflated files are inflated first. */
async function decodedFrame(
  deps: DicomWebDeps,
  row: InstanceRow,
  n: number,
  metadata: DicomJson,
  img: ImageDescription,
): Promise<DecodedFrame> {
  let pixel = row.pixel ? (JSON.parse(row.pixel) as PixelInfo) : undefined;
  let ts = row.transfer_syntax;
  let file: Buffer | undefined;
  if (!pixel && metadata['7FE00010'] && !canDecodeFrames(ts)) {
    file = await toExplicitLittleEndian(
      await deps.blobs.readAll(row.blob_key),
      ts,
      undefined,
      img,
      deps.codecs,
    );
    pixel = (
      await parseInstance(file, {
        inlineBinaryBytes: 0,
        maxFrames: Infinity,
        maxFramePixels: Infinity,
      })
    ).pixel;
    ts = '1.2.840.10008.1.2.1';
  }
  if (!pixel)
    throw new FhirError(406, { code: 'not-supported', message: 'The instance has no image to render' });
  const ranges = pixel.frames[n - 1];
  if (!ranges) throw FhirError.of('not-found', `No frame ${n} in this instance`);
  const bytes = file ? frameBytes(file, ranges) : await deps.blobs.readRanges(row.blob_key, ranges);
  return deps.codecs.decode(bytes, ts, img);
}

async function renderOne(
  deps: DicomWebDeps,
  row: InstanceRow,
  n: number,
  q: ReturnType<typeof parseQuery>,
  thumbnail: boolean,
): Promise<Buffer> {
  const metadata = JSON.parse(row.metadata) as DicomJson;
  const img = describeImage(metadata);
  const frame = await decodedFrame(deps, row, n, metadata, img);
  const palette = frame.photometric === 'PALETTE COLOR' ? await loadPalette(deps, row, metadata) : undefined;
  const viewport = viewportFor(q, img.columns, img.rows, thumbnail);
  const rgba = renderFrame(frame, img, metadata, { ...q.render, ...(viewport && { viewport }) }, palette);
  return encodeImage(rgba, q.type, q.quality);
}

function single(q: Query, body: Buffer): DicomWebResponse {
  return {
    status: 200,
    contentType: q.type,
    headers: q.warnings.length > 0 ? { Warning: q.warnings.map((w) => `299 - "${w}"`).join(', ') } : {},
    body,
  };
}

function multipart(q: Query, parts: OutPart[]): DicomWebResponse {
  const boundary = newBoundary();
  return {
    status: 200,
    contentType: `multipart/related; type="${q.type}"; boundary=${boundary}`,
    headers: q.warnings.length > 0 ? { Warning: q.warnings.map((w) => `299 - "${w}"`).join(', ') } : {},
    body: multipartStream(parts, boundary),
  };
}

function isImage(row: InstanceRow): boolean {
  return row.pixel !== null || row.metadata.includes('"7FE00010"');
}

/**
 * Rendered resources (PS3.18 10.4.1.1.3): an instance renders its first frame; a frame list one
 * image per frame; a study or series one image per image instance, as multipart/related.
 */
export async function renderedHandler(req: DicomWebRequest, deps: DicomWebDeps): Promise<DicomWebResponse> {
  const q = parseQuery(req, false);
  const rows = (await selectInstances(req, deps)).filter(isImage);
  const [, , , , , sop, , list] = req.segments;
  if (rows.length === 0)
    throw new FhirError(406, { code: 'not-supported', message: 'Nothing here renders as an image' });
  if (sop) {
    const row = rows[0] as InstanceRow;
    const frames = list ? list.split(',').map(Number) : [1];
    if (frames.length === 1) return single(q, await renderOne(deps, row, frames[0] ?? 1, q, false));
    const url = instanceUrl(deps, row.study_uid, row.series_uid, row.sop_uid);
    return multipart(
      q,
      frames.map((n) => ({
        contentType: q.type,
        headers: { 'Content-Location': `${url}/frames/${n}/rendered` },
        body: async () => Readable.from([await renderOne(deps, row, n, q, false)]),
      })),
    );
  }
  return multipart(
    q,
    rows.map((row) => ({
      contentType: q.type,
      headers: {
        'Content-Location': `${instanceUrl(deps, row.study_uid, row.series_uid, row.sop_uid)}/rendered`,
      },
      body: async () => Readable.from([await renderOne(deps, row, 1, q, false)]),
    })),
  );
}

/**
 * Thumbnails (PS3.18 10.4.1.1.4): one small image. A study or series is represented by the middle
 * image of its first series, as a viewer's series strip would show it.
 */
export async function thumbnailHandler(req: DicomWebRequest, deps: DicomWebDeps): Promise<DicomWebResponse> {
  const q = parseQuery(req, true);
  const rows = (await selectInstances(req, deps)).filter(isImage);
  const first = rows[0];
  if (!first)
    throw new FhirError(406, { code: 'not-supported', message: 'Nothing here renders as an image' });
  const series = rows.filter((r) => r.series_uid === first.series_uid);
  const row = series[Math.floor((series.length - 1) / 2)] as InstanceRow;
  const frame = Number((req.segments[7] ?? '1').split(',')[0]);
  return single(q, await renderOne(deps, row, frame, q, true));
}
