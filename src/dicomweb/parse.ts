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
}

const UID = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

function requireUid(json: DicomJson, tag: string, name: string): string {
  const v = firstString(json, tag)?.replace(/\0/g, '');
  if (!v) throw new StowFailure(FAILURE.doesNotMatch, `${name} (${tag}) is missing`);
  if (v.length > 64 || !UID.test(v))
    throw new StowFailure(FAILURE.doesNotMatch, `${name} (${tag}) is not a valid UID`);
  return v;
}

/**
 * Reads what the index needs from a Part 10 file: identity, DICOM JSON metadata and where pixel
 * and other bulk data sit in the file, so frames and bulk data are served by range reads later.
 */
export function parseInstance(file: Buffer, limits: ParseLimits): ParsedInstance {
  if (file.length < 132 || file.toString('latin1', 128, 132) !== 'DICM')
    throw new StowFailure(FAILURE.cannotUnderstand, 'Not a DICOM Part 10 file (no DICM prefix)');
  let dict;
  try {
    const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer;
    dict = dcmjs.data.DicomMessage.readFile(ab, { untilTag: '7FE00010', includeUntilTagValue: false });
  } catch {
    throw new StowFailure(FAILURE.cannotUnderstand, 'The DICOM data set cannot be parsed');
  }
  const transferSyntax = firstString(dict.meta as unknown as DicomJson, '00020010')?.replace(/\0/g, '') ?? '';
  if (!isKnownTransferSyntax(transferSyntax))
    throw new StowFailure(
      FAILURE.transferSyntaxNotSupported,
      `Transfer syntax ${transferSyntax || '(none)'} is not supported`,
    );
  const metadata = toDicomJson(dict.dict, limits.inlineBinaryBytes);
  const studyUid = requireUid(metadata, '0020000D', 'StudyInstanceUID');
  const seriesUid = requireUid(metadata, '0020000E', 'SeriesInstanceUID');
  const sopUid = requireUid(metadata, '00080018', 'SOPInstanceUID');
  const sopClassUid = requireUid(metadata, '00080016', 'SOPClassUID');

  const bulk: Record<string, [number, number]> = {};
  let pixel: PixelInfo | undefined;
  // Deflated files have no stable byte offsets; their bulk data is served by decoding the file.
  if (transferSyntax !== '1.2.840.10008.1.2.1.99') {
    let ds: DataSet;
    try {
      ds = dicomParser.parseDicom(new Uint8Array(file.buffer, file.byteOffset, file.length), {
        vrCallback: (t) => vrOf(t.slice(1).toUpperCase()),
      });
    } catch {
      throw new StowFailure(FAILURE.cannotUnderstand, 'The DICOM file is truncated or malformed');
    }
    collectBulk(ds, metadata, [], bulk);
    const pd = ds.elements.x7fe00010;
    if (pd) pixel = pixelInfo(ds, pd, metadata, transferSyntax, limits);
  }
  const pixelAttr = metadata['7FE00010'];
  if (pixelAttr)
    pixelAttr.vr = isEncapsulated(transferSyntax) || (pixel?.bitsAllocated ?? 16) <= 8 ? 'OB' : 'OW';
  return { studyUid, seriesUid, sopUid, sopClassUid, transferSyntax, metadata, pixel, bulk };
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

function pixelInfo(
  ds: DataSet,
  pd: Element,
  json: DicomJson,
  transferSyntax: string,
  limits: ParseLimits,
): PixelInfo {
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
    const frameBytes = Math.ceil((rows * columns * samplesPerPixel * bitsAllocated) / 8);
    if (frameBytes === 0 || frameBytes * numberOfFrames > pd.length)
      throw new StowFailure(
        0xa900,
        `Pixel Data holds ${pd.length} bytes but Rows, Columns, Samples, Bits Allocated and Number of Frames declare ${frameBytes * numberOfFrames}`,
      );
    for (let i = 0; i < numberOfFrames; i++) frames.push([[pd.dataOffset + i * frameBytes, frameBytes]]);
  } else {
    const fragments = pd.fragments ?? [];
    if (fragments.length === 0)
      throw new StowFailure(FAILURE.doesNotMatch, 'Encapsulated Pixel Data has no fragments');
    let bot = pd.basicOffsetTable ?? [];
    if (bot.length !== numberOfFrames) {
      if (numberOfFrames === 1) bot = [0];
      else if (fragments.length === numberOfFrames) bot = fragments.map((f) => f.offset);
      else bot = dicomParser.createJPEGBasicOffsetTable(ds, pd);
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
