import type { DcmjsElement } from 'dcmjs';
import dcmjs from 'dcmjs';
import { PNG } from 'pngjs';
import type { OcrBox, OcrEngine } from '../../ocr';

export interface PixelCleanResult {
  file: Buffer;
  /** Text boxes blanked on every frame. */
  regions: number;
}

/** Pixels around a found word that are blanked too: OCR boxes hug the glyphs. */
const PAD = 3;
/** Images up to this size are OCRed at twice their size: annotation fonts are small. */
const UPSCALE_BELOW = 1024;

const num = (e: DcmjsElement | undefined, fallback: number): number => {
  const v = Number(e?.Value?.[0]);
  return Number.isFinite(v) ? v : fallback;
};

/**
 * PS3.15's Clean Pixel Data option by OCR: a few frames of a native (uncompressed, little endian)
 * file are read with tesseract in sparse-text mode, and every box holding a letter or digit is
 * blanked on every frame (burned-in annotations stay put through a cine loop). Boxes are kept
 * generously: a blanked corner costs less than a name left in the image.
 */
export async function cleanBurnedInText(file: Buffer, ocr: OcrEngine): Promise<PixelCleanResult> {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer;
  const dict = dcmjs.data.DicomMessage.readFile(ab, { ignoreErrors: true });
  const ds = dict.dict;
  const rows = num(ds['00280010'], 0);
  const cols = num(ds['00280011'], 0);
  const spp = num(ds['00280002'], 1);
  const bits = num(ds['00280100'], 8);
  const signed = num(ds['00280103'], 0) === 1;
  const planar = num(ds['00280006'], 0) === 1;
  const frames = num(ds['00280008'], 1);
  const pi = ds['00280004']?.Value?.[0];
  const photometric = typeof pi === 'string' ? pi : 'MONOCHROME2';
  const chunks = (ds['7FE00010']?.Value ?? []).filter((v): v is ArrayBuffer => v instanceof ArrayBuffer);
  if (rows === 0 || cols === 0 || chunks.length === 0 || (bits !== 8 && bits !== 16))
    throw new Error(`pixel data this cleaner cannot read (${bits} bits allocated)`);
  const bytes = new Uint8Array(Buffer.concat(chunks.map((c) => new Uint8Array(c))));
  const frameSamples = rows * cols * spp;
  const samples =
    bits === 16
      ? signed
        ? new Int16Array(bytes.buffer, 0, frameSamples * frames)
        : new Uint16Array(bytes.buffer, 0, frameSamples * frames)
      : signed
        ? new Int8Array(bytes.buffer, 0, frameSamples * frames)
        : bytes.subarray(0, frameSamples * frames);

  const frame = (f: number): Int16Array | Uint16Array | Int8Array | Uint8Array =>
    samples.subarray(f * frameSamples, (f + 1) * frameSamples);
  const boxes: OcrBox[] = [];
  for (const f of new Set([0, Math.floor(frames / 2), frames - 1])) {
    const grey = toGrey(frame(f), rows, cols, spp, planar);
    const scale = Math.max(rows, cols) <= UPSCALE_BELOW ? 2 : 1;
    const result = await ocr.recognize(toPng(grey, rows, cols, scale), 'sparse');
    for (const w of result.words) {
      const b = w.bbox;
      if (!/[A-Za-z0-9]/.test(w.text) || (b.y1 - b.y0) / scale > rows / 4) continue;
      boxes.push({
        x0: Math.max(0, Math.floor(b.x0 / scale) - PAD),
        y0: Math.max(0, Math.floor(b.y0 / scale) - PAD),
        x1: Math.min(cols, Math.ceil(b.x1 / scale) + PAD),
        y1: Math.min(rows, Math.ceil(b.y1 / scale) + PAD),
      });
    }
  }
  for (let f = 0; f < frames; f++) {
    const px = frame(f);
    const fill = spp > 1 ? 0 : darkest(px, photometric);
    for (const b of boxes)
      for (let y = b.y0; y < b.y1; y++)
        for (let x = b.x0; x < b.x1; x++)
          for (let s = 0; s < spp; s++)
            px[planar ? s * rows * cols + y * cols + x : (y * cols + x) * spp + s] = fill;
  }
  const out = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  ds['7FE00010'] = {
    vr: bits === 16 ? 'OW' : 'OB',
    Value: [out.buffer.slice(out.byteOffset, out.byteOffset + out.length)],
  };
  ds['00280301'] = { vr: 'CS', Value: ['NO'] };
  return { file: Buffer.from(dict.write({ allowInvalidVRLength: true })), regions: boxes.length };
}

/** The value that displays as black: the minimum, or for MONOCHROME1 the maximum. */
function darkest(px: ArrayLike<number>, photometric: string): number {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < px.length; i++) {
    const v = px[i] ?? 0;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return photometric === 'MONOCHROME1' ? max : min;
}

/** 8-bit grey for OCR: min-max stretched grey, or the luminance of colour. */
function toGrey(px: ArrayLike<number>, rows: number, cols: number, spp: number, planar: boolean): Uint8Array {
  const n = rows * cols;
  const grey = new Uint8Array(n);
  if (spp >= 3) {
    for (let i = 0; i < n; i++) {
      const at = (s: number): number => px[planar ? s * n + i : i * spp + s] ?? 0;
      grey[i] = Math.round(0.299 * at(0) + 0.587 * at(1) + 0.114 * at(2));
    }
    return grey;
  }
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = px[i] ?? 0;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const range = max - min || 1;
  for (let i = 0; i < n; i++) grey[i] = Math.round((((px[i] ?? 0) - min) * 255) / range);
  return grey;
}

function toPng(grey: Uint8Array, rows: number, cols: number, scale: number): Buffer {
  const width = cols * scale;
  const png = new PNG({ width, height: rows * scale });
  for (let y = 0; y < rows * scale; y++)
    for (let x = 0; x < width; x++) {
      const v = grey[Math.floor(y / scale) * cols + Math.floor(x / scale)] ?? 0;
      const at = (y * width + x) * 4;
      png.data[at] = v;
      png.data[at + 1] = v;
      png.data[at + 2] = v;
      png.data[at + 3] = 255;
    }
  return PNG.sync.write(png, { colorType: 0 });
}
