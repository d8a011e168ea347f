import dcmjs from 'dcmjs';
import type { PixelInfo } from './parse';
import { EXPLICIT_VR_LE } from './transfer-syntax';

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const RLE = '1.2.840.10008.1.2.5';

/** Source syntaxes this server can turn into Explicit VR Little Endian. */
export function canTranscode(from: string, to: string): boolean {
  return from === to || (to === EXPLICIT_VR_LE && [IMPLICIT_LE, EXPLICIT_BE, DEFLATED, RLE].includes(from));
}

/**
 * Re-encodes a Part 10 file in Explicit VR Little Endian: uncompressed syntaxes are re-written,
 * big-endian pixel data is byte-swapped, and RLE Lossless frames are decoded (PS3.5 Annex G).
 */
export function toExplicitLittleEndian(file: Buffer, from: string, pixel: PixelInfo | undefined): Buffer {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer;
  const dict = dcmjs.data.DicomMessage.readFile(ab);
  const pd = dict.dict['7FE00010'];
  if (from === EXPLICIT_BE && pd?.Value && pixel && pixel.bitsAllocated > 8) {
    const width = pixel.bitsAllocated / 8;
    for (const v of pd.Value) if (v instanceof ArrayBuffer) swapBytes(new Uint8Array(v), width);
  }
  if (from === RLE && pixel) {
    const frames = pixel.frames.map((ranges) =>
      decodeRleFrame(Buffer.concat(ranges.map(([o, l]) => file.subarray(o, o + l))), pixel),
    );
    const all = Buffer.concat(frames);
    dict.dict['7FE00010'] = {
      vr: pixel.bitsAllocated > 8 ? 'OW' : 'OB',
      Value: [all.buffer.slice(all.byteOffset, all.byteOffset + all.length)],
    };
    if (pixel.samplesPerPixel > 1) dict.dict['00280006'] = { vr: 'US', Value: [0] };
  }
  const ts = dict.meta['00020010'];
  if (ts) ts.Value = [EXPLICIT_VR_LE];
  return Buffer.from(dict.write());
}

/** Reverses the byte order of each `width`-byte word in place (big- to little-endian). */
export function swapBytes(u: Uint8Array, width: number): void {
  for (let i = 0; i + width <= u.length; i += width) u.subarray(i, i + width).reverse();
}

/** One RLE frame to native pixels, interleaved by pixel, least significant byte first. */
export function decodeRleFrame(frame: Buffer, pixel: PixelInfo): Buffer {
  const segments = frame.readUInt32LE(0);
  const bytesPerSample = pixel.bitsAllocated / 8;
  const pixels = pixel.rows * pixel.columns;
  if (segments !== bytesPerSample * pixel.samplesPerPixel || segments > 15)
    throw new Error('RLE header does not match the image description');
  const out = Buffer.alloc(pixels * pixel.samplesPerPixel * bytesPerSample);
  for (let s = 0; s < segments; s++) {
    const start = frame.readUInt32LE(4 + 4 * s);
    const end = s + 1 < segments ? frame.readUInt32LE(8 + 4 * s) : frame.length;
    const plane = unpackBits(frame.subarray(start, end), pixels);
    const sample = Math.floor(s / bytesPerSample);
    // Segments run from most to least significant byte.
    const byte = bytesPerSample - 1 - (s % bytesPerSample);
    const stride = pixel.samplesPerPixel * bytesPerSample;
    for (let p = 0; p < pixels; p++) out[p * stride + sample * bytesPerSample + byte] = plane[p] ?? 0;
  }
  return out;
}

function unpackBits(src: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  let i = 0;
  let o = 0;
  while (i < src.length && o < size) {
    const n = src.readInt8(i++);
    if (n >= 0) {
      const len = Math.min(n + 1, size - o);
      src.copy(out, o, i, i + len);
      i += n + 1;
      o += len;
    } else if (n !== -128) {
      const len = Math.min(-n + 1, size - o);
      out.fill(src[i] ?? 0, o, o + len);
      i++;
      o += len;
    }
  }
  return out;
}
