import type { DataSet, Element } from 'dicom-parser';
import dicomParser from 'dicom-parser';
import dcmjs from 'dcmjs';
import type { DicomJson } from './dicom-json';
import { firstNumber, firstString, toDicomJson, vrOf } from './dicom-json';
import { FAILURE, StowFailure } from './reasons';
import { isEncapsulated, isKnownTransferSyntax } from './transfer-syntax';

/** Where one frame's bytes are in the stored file: one or more byte ranges. */
export type FrameRanges = [offset: number, length: number][];

export interface PixelInfo {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  numberOfFrames: number;
  encapsulated: boolean;
  /** Ranges per frame, in frame order. */
  frames: FrameRanges[];
}

export interface ParsedInstance {
  studyUid: string;
  seriesUid: string;
  sopUid: string;
  sopClassUid: string;
  transferSyntax: string;
  metadata: DicomJson;
  pixel?: PixelInfo;
  /** Byte ranges of bulk data elements, by the path used in their BulkDataURI. */
  bulk: Record<string, [number, number]>;
}

export interface ParseLimits {
  inlineBinaryBytes: number;
  maxFrames: number;
  maxFramePixels: number;
  /** Most bytes read whole from a stored file to parse the data set before Pixel Data. */
  maxHeaderBytes?: number;
}

const UID = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

function requireUid(json: DicomJson, tag: string, name: string): string {
  const v = firstString(json, tag)?.replace(/\0/g, '');
  if (!v) throw new StowFailure(FAILURE.doesNotMatch, `${name} (${tag}) is missing`);
  if (v.length > 64 || !UID.test(v))
    throw new StowFailure(FAILURE.doesNotMatch, `${name} (${tag}) is not a valid UID`);
  return v;
}

/** Random access to a Part 10 file: in memory, or a stored blob read by ranges. */
export interface ByteSource {
  size: number;
  /** Up to `length` bytes from `offset` (fewer at the end). */
  read(offset: number, length: number): Promise<Buffer>;
  /** The whole file, when it is in memory anyway. */
  whole?: Buffer;
}

export function bufferSource(file: Buffer): ByteSource {
  return {
    size: file.length,
    whole: file,
    read: (offset, length) => Promise.resolve(file.subarray(offset, offset + length)),
  };
}

/** First read of a file parsed from storage; grown until it holds everything before Pixel Data. */
const HEAD_BYTES = 256 * 1024;
const MAX_HEADER_BYTES = 256 * 1024 * 1024;
const PIXEL_DATA = 'x7fe00010';
const DEFLATED = '1.2.840.10008.1.2.1.99';

const malformed = (): StowFailure =>
  new StowFailure(FAILURE.cannotUnderstand, 'The DICOM file is truncated or malformed');

/**
 * Reads what the index needs from a Part 10 file: identity, DICOM JSON metadata and where pixel
 * and other bulk data sit in the file, so frames and bulk data are served by range reads later.
 * Only the data set before Pixel Data is read whole; the pixel data's fragments are found by
 * reading their item headers, so a file of gigabytes is parsed without holding it in memory.
 */
export async function parseInstance(
  input: Buffer | ByteSource,
  limits: ParseLimits,
  headBytes = HEAD_BYTES,
): Promise<ParsedInstance> {
  const source = Buffer.isBuffer(input) ? bufferSource(input) : input;
  let head = source.whole ?? (await source.read(0, Math.min(source.size, Math.max(132, headBytes))));
  if (head.length < 132 || head.toString('latin1', 128, 132) !== 'DICM')
    throw new StowFailure(FAILURE.cannotUnderstand, 'Not a DICOM Part 10 file (no DICM prefix)');
  const maxHead = limits.maxHeaderBytes ?? MAX_HEADER_BYTES;
  const [metaBytes, transferSyntax] = await readGrowing(source, head, maxHead, (bytes, whole) => {
    const meta = dicomParser.readPart10Header(bytes);
    const uid = (meta.string('x00020010') ?? '').replace(/\0/g, '').trim();
    return uid || whole ? uid : undefined;
  }).catch((err: unknown) => {
    if (err instanceof StowFailure) throw err;
    throw new StowFailure(FAILURE.cannotUnderstand, 'The file meta information cannot be parsed');
  });
  head = metaBytes;
  if (!transferSyntax)
    throw new StowFailure(FAILURE.cannotUnderstand, 'The file meta information has no Transfer Syntax UID');
  if (!isKnownTransferSyntax(transferSyntax))
    throw new StowFailure(
      FAILURE.transferSyntaxNotSupported,
      `Transfer syntax ${transferSyntax} is not supported`,
    );
  // Deflated files have no stable byte offsets: they are read whole, and their bulk data is served
  // by decoding the file.
  let ds: DataSet | undefined;
  if (transferSyntax === DEFLATED) head = await readWhole(source, head, maxHead);
  else
    [head, ds] = await readGrowing(source, head, maxHead, (bytes, whole) => {
      const parsed = dicomParser.parseDicom(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), {
        untilTag: PIXEL_DATA,
        vrCallback: (t) => vrOf(t.slice(1).toUpperCase()),
      });
      // Ending cleanly before Pixel Data may only mean the read ended between two elements.
      return parsed.elements[PIXEL_DATA] || whole ? parsed : undefined;
    }).catch((err: unknown) => {
      throw err instanceof StowFailure ? err : malformed();
    });

  let dict;
  try {
    const ab = head.buffer.slice(head.byteOffset, head.byteOffset + head.length) as ArrayBuffer;
    dict = dcmjs.data.DicomMessage.readFile(ab, { untilTag: '7FE00010', includeUntilTagValue: false });
  } catch {
    throw new StowFailure(FAILURE.cannotUnderstand, 'The DICOM data set cannot be parsed');
  }
  const metadata = toDicomJson(dict.dict, limits.inlineBinaryBytes);
  const studyUid = requireUid(metadata, '0020000D', 'StudyInstanceUID');
  const seriesUid = requireUid(metadata, '0020000E', 'SeriesInstanceUID');
  const sopUid = requireUid(metadata, '00080018', 'SOPInstanceUID');
  const sopClassUid = requireUid(metadata, '00080016', 'SOPClassUID');

  const bulk: Record<string, [number, number]> = {};
  let pixel: PixelInfo | undefined;
  if (ds) {
    collectBulk(ds, metadata, [], bulk);
    const pd = ds.elements[PIXEL_DATA];
    if (pd) pixel = await pixelInfo(source, pd, metadata, transferSyntax, limits);
  }
  const pixelAttr = metadata['7FE00010'];
  if (pixelAttr)
    pixelAttr.vr = isEncapsulated(transferSyntax) || (pixel?.bitsAllocated ?? 16) <= 8 ? 'OB' : 'OW';
  return { studyUid, seriesUid, sopUid, sopClassUid, transferSyntax, metadata, pixel, bulk };
}

async function readWhole(source: ByteSource, head: Buffer, max: number): Promise<Buffer> {
  if (head.length === source.size) return head;
  if (source.size > max)
    throw new StowFailure(FAILURE.outOfResources, `A deflated file over ${max} bytes cannot be parsed`);
  return source.read(0, source.size);
}

/**
 * Runs `attempt` on the first bytes of the file, reading four times as many each time it throws
 * or gives nothing, until it succeeds; on the whole file its failure is final. A stored file is
 * read whole up to `max` bytes only, so a huge element before Pixel Data cannot fill the memory.
 */
async function readGrowing<T>(
  source: ByteSource,
  first: Buffer,
  max: number,
  attempt: (bytes: Buffer, whole: boolean) => T | undefined,
): Promise<[Buffer, T]> {
  let head = first;
  for (;;) {
    const whole = head.length >= source.size;
    try {
      const result = attempt(head, whole);
      if (result !== undefined) return [head, result];
    } catch (err) {
      if (whole) throw err;
    }
    const next = Math.min(source.size, head.length * 4);
    if (!source.whole && next > max)
      throw new StowFailure(
        FAILURE.outOfResources,
        `The data set before Pixel Data exceeds ${max} bytes, the most read into memory`,
      );
    head = await source.read(0, next);
  }
}

function collectBulk(
  ds: DataSet,
  json: DicomJson,
  path: string[],
  out: Record<string, [number, number]>,
): void {
  for (const [tag, attr] of Object.entries(json)) {
    const el = ds.elements[`x${tag.toLowerCase()}`];
    if (!el) continue;
    if (attr.BulkDataURI && tag !== '7FE00010') out[[...path, tag].join('/')] = [el.dataOffset, el.length];
    if (attr.vr === 'SQ' && attr.Value && el.items) {
      attr.Value.forEach((item, i) => {
        const child = el.items?.[i]?.dataSet;
        if (child) collectBulk(child, item as DicomJson, [...path, tag, String(i)], out);
      });
    }
  }
}

async function pixelInfo(
  source: ByteSource,
  pd: Element,
  json: DicomJson,
  transferSyntax: string,
  limits: ParseLimits,
): Promise<PixelInfo> {
  const rows = firstNumber(json, '00280010') ?? 0;
  const columns = firstNumber(json, '00280011') ?? 0;
  const samplesPerPixel = firstNumber(json, '00280002') ?? 1;
  const bitsAllocated = firstNumber(json, '00280100') ?? 16;
  const numberOfFrames = Math.max(1, firstNumber(json, '00280008') ?? 1);
  if (numberOfFrames > limits.maxFrames || rows * columns * samplesPerPixel > limits.maxFramePixels)
    throw new StowFailure(
      0xa700,
      `Declared image size (${numberOfFrames} frames of ${rows}x${columns}x${samplesPerPixel}) exceeds the configured limits`,
    );
  const encapsulated = isEncapsulated(transferSyntax);
  const frames: FrameRanges[] = [];
  if (!encapsulated) {
    if (pd.hadUndefinedLength)
      throw new StowFailure(
        FAILURE.doesNotMatch,
        `Pixel Data is encapsulated but the transfer syntax ${transferSyntax} is native`,
      );
    if (pd.dataOffset + pd.length > source.size) throw malformed();
    const frameBytes = Math.ceil((rows * columns * samplesPerPixel * bitsAllocated) / 8);
    if (frameBytes === 0 || frameBytes * numberOfFrames > pd.length)
      throw new StowFailure(
        0xa900,
        `Pixel Data holds ${pd.length} bytes but Rows, Columns, Samples, Bits Allocated and Number of Frames declare ${frameBytes * numberOfFrames}`,
      );
    for (let i = 0; i < numberOfFrames; i++) frames.push([[pd.dataOffset + i * frameBytes, frameBytes]]);
  } else {
    const { basicOffsetTable, fragments } = pd.hadUndefinedLength
      ? await readFragments(source, pd.dataOffset, numberOfFrames)
      : { basicOffsetTable: [], fragments: [] };
    if (fragments.length === 0)
      throw new StowFailure(FAILURE.doesNotMatch, 'Encapsulated Pixel Data has no fragments');
    let bot = basicOffsetTable;
    if (bot.length !== numberOfFrames) {
      if (numberOfFrames === 1) bot = [0];
      else if (fragments.length === numberOfFrames) bot = fragments.map((f) => f.offset);
      else bot = await jpegFrameStarts(source, fragments);
    }
    for (let i = 0; i < numberOfFrames; i++) {
      const start = bot[i] ?? Number.POSITIVE_INFINITY;
      const end = bot[i + 1] ?? Number.POSITIVE_INFINITY;
      const ranges: FrameRanges = fragments
        .filter((f) => f.offset >= start && f.offset < end)
        .map((f) => [f.position, f.length]);
      if (ranges.length === 0)
        throw new StowFailure(FAILURE.doesNotMatch, `Frame ${i + 1} has no pixel data fragments`);
      frames.push(ranges);
    }
  }
  return { rows, columns, samplesPerPixel, bitsAllocated, numberOfFrames, encapsulated, frames };
}

interface Fragment {
  /** Of its item, from the first fragment's item (what Basic Offset Table entries count). */
  offset: number;
  /** Of its bytes in the file. */
  position: number;
  length: number;
}

const ITEM = 0xe000;
const SEQUENCE_DELIMITER = 0xe0dd;

/**
 * The Basic Offset Table and fragments of encapsulated Pixel Data (PS3.5 A.4), from the item
 * headers alone: each fragment's bytes are skipped, not read. As dicom-parser does, a missing
 * sequence delimiter at the end of the file is accepted and an unexpected tag ends the data.
 */
async function readFragments(
  source: ByteSource,
  start: number,
  frames: number,
): Promise<{ basicOffsetTable: number[]; fragments: Fragment[] }> {
  const itemAt = async (pos: number): Promise<{ group: number; element: number; length: number }> => {
    const b = await source.read(pos, 8);
    if (b.length < 8) throw malformed();
    return { group: b.readUInt16LE(0), element: b.readUInt16LE(2), length: b.readUInt32LE(4) };
  };
  const first = await itemAt(start);
  if (first.group !== 0xfffe || first.element !== ITEM || first.length % 4 !== 0) throw malformed();
  // One offset per frame: a longer table cannot be used (frames are then found as without one)
  // and is not read into memory.
  let basicOffsetTable: number[] = [];
  if (first.length <= 4 * frames) {
    const table = await source.read(start + 8, first.length);
    if (table.length < first.length) throw malformed();
    basicOffsetTable = Array.from({ length: first.length / 4 }, (_, i) => table.readUInt32LE(i * 4));
  }
  const base = start + 8 + first.length;
  if (base > source.size) throw malformed();
  const fragments: Fragment[] = [];
  for (let pos = base; pos < source.size;) {
    const item = await itemAt(pos);
    if (item.group === 0xfffe && item.element === SEQUENCE_DELIMITER) break;
    const known = item.group === 0xfffe && item.element === ITEM;
    const length = known ? item.length : Math.min(item.length, source.size - pos - 8);
    if (pos + 8 + length > source.size) throw malformed();
    fragments.push({ offset: pos - base, position: pos + 8, length });
    if (!known) break;
    pos += 8 + length;
  }
  return { basicOffsetTable, fragments };
}

/**
 * Without a usable Basic Offset Table and with more fragments than frames, frames are told apart
 * by JPEG End Of Image markers at the end of a fragment (possibly followed by one pad byte).
 */
async function jpegFrameStarts(source: ByteSource, fragments: Fragment[]): Promise<number[]> {
  const starts: number[] = [];
  let frameStart = true;
  for (const f of fragments) {
    if (frameStart) starts.push(f.offset);
    const tail = await source.read(Math.max(f.position, f.position + f.length - 3), Math.min(3, f.length));
    const eoi = (i: number): boolean => tail[i] === 0xff && tail[i + 1] === 0xd9;
    frameStart = eoi(tail.length - 2) || eoi(tail.length - 3);
  }
  return starts;
}
