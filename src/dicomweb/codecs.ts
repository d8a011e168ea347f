import { Context, NativeCodecs } from 'dcmjs-codecs';
import type { DicomJson } from './dicom-json';
import { firstNumber, firstString } from './dicom-json';
import { EXPLICIT_VR_LE } from './transfer-syntax';

/** What a decoder needs to know about the image (PS3.3 C.7.6.3 Image Pixel module). */
export interface ImageDescription {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  planarConfiguration: number;
  photometric: string;
}

export function describeImage(json: DicomJson): ImageDescription {
  const bitsAllocated = firstNumber(json, '00280100') ?? 16;
  return {
    rows: firstNumber(json, '00280010') ?? 0,
    columns: firstNumber(json, '00280011') ?? 0,
    samplesPerPixel: firstNumber(json, '00280002') ?? 1,
    bitsAllocated,
    bitsStored: firstNumber(json, '00280101') ?? bitsAllocated,
    pixelRepresentation: firstNumber(json, '00280103') ?? 0,
    planarConfiguration: firstNumber(json, '00280006') ?? 0,
    photometric: firstString(json, '00280004') ?? 'MONOCHROME2',
  };
}

export interface DecodedFrame {
  /** Native pixels, little endian, interleaved by pixel when there are several samples. */
  pixels: Buffer;
  /** Photometric Interpretation of the decoded pixels (YBR JPEG frames come out as RGB). */
  photometric: string;
}

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const NATIVE = new Set([IMPLICIT_LE, EXPLICIT_VR_LE, EXPLICIT_BE, DEFLATED]);

type Decoder = 'rle' | 'jpeg' | 'jpegls' | 'j2k' | 'htj2k';
const DECODERS: Record<string, Decoder> = {
  '1.2.840.10008.1.2.5': 'rle',
  '1.2.840.10008.1.2.4.50': 'jpeg',
  '1.2.840.10008.1.2.4.51': 'jpeg',
  '1.2.840.10008.1.2.4.57': 'jpeg',
  '1.2.840.10008.1.2.4.70': 'jpeg',
  '1.2.840.10008.1.2.4.80': 'jpegls',
  '1.2.840.10008.1.2.4.81': 'jpegls',
  '1.2.840.10008.1.2.4.90': 'j2k',
  '1.2.840.10008.1.2.4.91': 'j2k',
  '1.2.840.10008.1.2.4.201': 'htj2k',
  '1.2.840.10008.1.2.4.202': 'htj2k',
  '1.2.840.10008.1.2.4.203': 'htj2k',
};

/** Lossy syntaxes: a decoded copy must keep saying it was lossy compressed (PS3.3 C.7.6.1.1.5). */
export const LOSSY = new Set([
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
  '1.2.840.10008.1.2.4.81',
  '1.2.840.10008.1.2.4.91',
  '1.2.840.10008.1.2.4.203',
]);

/** Whether stored `from` can be served as `to`. */
export function canTranscode(from: string, to: string): boolean {
  return from === to || (to === EXPLICIT_VR_LE && (NATIVE.has(from) || from in DECODERS));
}

/** Whether frames of this syntax can be decoded one by one (deflated files have no frame offsets). */
export function canDecodeFrames(ts: string): boolean {
  return ts !== DEFLATED && (NATIVE.has(ts) || ts in DECODERS);
}

/** Reverses the byte order of each `width`-byte word in place (big- to little-endian). */
export function swapBytes(u: Uint8Array, width: number): void {
  for (let i = 0; i + width <= u.length; i += width) u.subarray(i, i + width).reverse();
}

/**
 * Frame decoding through dcmjs-codecs (WebAssembly builds of DCMTK's JPEG, CharLS, OpenJPEG and
 * OpenJPH). One instance per server; the WebAssembly module loads on first use, from the package
 * on disk, never from the network.
 */
export class FrameCodecs {
  private ready?: Promise<void>;

  private init(): Promise<void> {
    this.ready ??= NativeCodecs.initializeAsync({
      webAssemblyModulePathOrUrl: require.resolve('dcmjs-codecs/build/dcmjs-native-codecs.wasm'),
    });
    return this.ready;
  }

  async decode(frame: Buffer, ts: string, img: ImageDescription): Promise<DecodedFrame> {
    if (NATIVE.has(ts)) {
      if (ts !== EXPLICIT_BE || img.bitsAllocated <= 8)
        return { pixels: frame, photometric: img.photometric };
      const copy = Buffer.from(frame);
      swapBytes(copy, img.bitsAllocated / 8);
      return { pixels: copy, photometric: img.photometric };
    }
    const decoder = DECODERS[ts];
    if (!decoder) throw new Error(`No decoder for transfer syntax ${ts}`);
    await this.init();
    const ctx = new Context({
      width: img.columns,
      height: img.rows,
      bitsAllocated: img.bitsAllocated,
      bitsStored: img.bitsStored,
      samplesPerPixel: img.samplesPerPixel,
      pixelRepresentation: img.pixelRepresentation,
      planarConfiguration: img.planarConfiguration,
      photometricInterpretation: img.photometric,
      encodedBuffer: new Uint8Array(frame.buffer, frame.byteOffset, frame.length),
    });
    const out =
      decoder === 'rle'
        ? NativeCodecs.decodeRle(ctx)
        : decoder === 'jpeg'
          ? NativeCodecs.decodeJpeg(ctx, { convertColorspaceToRgb: true })
          : decoder === 'jpegls'
            ? NativeCodecs.decodeJpegLs(ctx)
            : decoder === 'j2k'
              ? NativeCodecs.decodeJpeg2000(ctx)
              : NativeCodecs.decodeHtJpeg2000(ctx);
    const decoded = out.getDecodedBuffer();
    const expected = img.rows * img.columns * img.samplesPerPixel * Math.ceil(img.bitsAllocated / 8);
    if (!decoded || decoded.length < expected) throw new Error('The frame could not be decoded');
    return {
      pixels: Buffer.from(decoded.buffer, decoded.byteOffset, expected),
      photometric: out.getPhotometricInterpretation() ?? img.photometric,
    };
  }
}
