import dcmjs from 'dcmjs';
import type { FrameCodecs, ImageDescription } from './codecs';
import { LOSSY, swapBytes } from './codecs';
import type { PixelInfo } from './parse';
import { EXPLICIT_VR_LE } from './transfer-syntax';

const EXPLICIT_BE = '1.2.840.10008.1.2.2';

/** One frame's bytes from the stored file. */
export function frameBytes(file: Buffer, ranges: [number, number][]): Buffer {
  return ranges.length === 1
    ? file.subarray(ranges[0]?.[0], (ranges[0]?.[0] ?? 0) + (ranges[0]?.[1] ?? 0))
    : Buffer.concat(ranges.map(([o, l]) => file.subarray(o, o + l)));
}

/**
 * Re-encodes a Part 10 file in Explicit VR Little Endian: uncompressed syntaxes are re-written,
 * big-endian pixel data is byte-swapped, and compressed frames are decoded. Decoded colour
 * frames are interleaved (Planar Configuration 0); a lossy source stays marked as lossy.
 */
export async function toExplicitLittleEndian(
  file: Buffer,
  from: string,
  pixel: PixelInfo | undefined,
  img: ImageDescription,
  codecs: FrameCodecs,
): Promise<Buffer> {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer;
  const dict = dcmjs.data.DicomMessage.readFile(ab, { ignoreErrors: true });
  const pd = dict.dict['7FE00010'];
  if (from === EXPLICIT_BE && pd?.Value && img.bitsAllocated > 8) {
    for (const v of pd.Value)
      if (v instanceof ArrayBuffer) swapBytes(new Uint8Array(v), img.bitsAllocated / 8);
  }
  if (pixel?.encapsulated) {
    const frames: Buffer[] = [];
    let photometric = img.photometric;
    for (const ranges of pixel.frames) {
      const decoded = await codecs.decode(frameBytes(file, ranges), from, img);
      frames.push(decoded.pixels);
      photometric = decoded.photometric;
    }
    const all = Buffer.concat(frames);
    dict.dict['7FE00010'] = {
      vr: img.bitsAllocated > 8 ? 'OW' : 'OB',
      Value: [all.buffer.slice(all.byteOffset, all.byteOffset + all.length)],
    };
    dict.dict['00280004'] = { vr: 'CS', Value: [photometric] };
    if (img.samplesPerPixel > 1) dict.dict['00280006'] = { vr: 'US', Value: [0] };
    if (LOSSY.has(from)) dict.dict['00282110'] = { vr: 'CS', Value: ['01'] };
  }
  const ts = dict.meta['00020010'];
  if (ts) ts.Value = [EXPLICIT_VR_LE];
  return Buffer.from(dict.write({ allowInvalidVRLength: true }));
}
