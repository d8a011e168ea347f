import { DicomImage, WindowLevel } from 'dcmjs-imaging';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { DecodedFrame, ImageDescription } from './codecs';
import type { DicomJson } from './dicom-json';
import { firstNumber, firstString } from './dicom-json';

export interface Rgba {
  width: number;
  height: number;
  /** width * height * 4 bytes. */
  data: Buffer;
}

export interface RenderOptions {
  /** VOI window (PS3.18 8.3.5.1.4); the instance's first window, else min-max, when absent. */
  window?: { center: number; width: number };
  /** Output size (and region) per PS3.18 8.3.5.1.3. */
  viewport?: Viewport;
}

export interface Viewport {
  width: number;
  height: number;
  /** Source region in image pixels; a negative width or height flips the image. */
  region?: { x: number; y: number; width: number; height: number };
}

/** Palette lookup tables, when the photometric interpretation is PALETTE COLOR. */
export interface Palette {
  descriptors: [number[], number[], number[]];
  data: [ArrayBuffer, ArrayBuffer, ArrayBuffer];
}

/**
 * Renders one decoded frame to RGBA: Modality LUT (rescale), VOI window, Presentation LUT and
 * colour conversion come from dcmjs-imaging; cropping and scaling to the viewport are done here.
 */
export function renderFrame(
  frame: DecodedFrame,
  img: ImageDescription,
  metadata: DicomJson,
  options: RenderOptions,
  palette?: Palette,
): Rgba {
  const numbers = (tag: string): number[] | undefined => {
    const v = metadata[tag]?.Value?.map(Number).filter((n) => Number.isFinite(n));
    return v && v.length > 0 ? v : undefined;
  };
  const pixels = frame.pixels;
  const elements: Record<string, unknown> = {
    Rows: img.rows,
    Columns: img.columns,
    BitsAllocated: img.bitsAllocated,
    BitsStored: img.bitsStored,
    HighBit: firstNumber(metadata, '00280102') ?? img.bitsStored - 1,
    PixelRepresentation: img.pixelRepresentation,
    SamplesPerPixel: img.samplesPerPixel,
    PlanarConfiguration: frame.photometric === img.photometric ? img.planarConfiguration : 0,
    PhotometricInterpretation: frame.photometric,
    NumberOfFrames: 1,
    RescaleSlope: firstNumber(metadata, '00281053') ?? 1,
    RescaleIntercept: firstNumber(metadata, '00281052') ?? 0,
    ...(numbers('00281050') && { WindowCenter: numbers('00281050') }),
    ...(numbers('00281051') && { WindowWidth: numbers('00281051') }),
    ...(firstString(metadata, '00282050') && { PresentationLUTShape: firstString(metadata, '00282050') }),
    ...(palette && {
      RedPaletteColorLookupTableDescriptor: palette.descriptors[0],
      GreenPaletteColorLookupTableDescriptor: palette.descriptors[1],
      BluePaletteColorLookupTableDescriptor: palette.descriptors[2],
      RedPaletteColorLookupTableData: palette.data[0],
      GreenPaletteColorLookupTableData: palette.data[1],
      BluePaletteColorLookupTableData: palette.data[2],
    }),
    PixelData: [pixels.buffer.slice(pixels.byteOffset, pixels.byteOffset + pixels.length)],
  };
  const image = new DicomImage(elements, '1.2.840.10008.1.2.1');
  const w = options.window;
  const out = image.render({
    frame: 0,
    ...(w && { windowLevel: new WindowLevel(w.width, w.center) }),
  });
  const rgba: Rgba = { width: out.width, height: out.height, data: Buffer.from(out.pixels) };
  return options.viewport ? fitViewport(rgba, options.viewport) : rgba;
}

/** Crops to the viewport's source region and scales it to the viewport (bilinear). */
export function fitViewport(src: Rgba, vp: Viewport): Rgba {
  const r = vp.region ?? { x: 0, y: 0, width: src.width, height: src.height };
  const out = Buffer.alloc(vp.width * vp.height * 4);
  const sx = r.width / vp.width;
  const sy = r.height / vp.height;
  const at = (x: number, y: number, c: number): number => {
    const cx = Math.min(src.width - 1, Math.max(0, x));
    const cy = Math.min(src.height - 1, Math.max(0, y));
    return src.data[(cy * src.width + cx) * 4 + c] ?? 0;
  };
  for (let y = 0; y < vp.height; y++) {
    const fy = r.y + (y + 0.5) * sy - 0.5;
    const y0 = Math.floor(fy);
    const ty = fy - y0;
    for (let x = 0; x < vp.width; x++) {
      const fx = r.x + (x + 0.5) * sx - 0.5;
      const x0 = Math.floor(fx);
      const tx = fx - x0;
      for (let c = 0; c < 4; c++) {
        const top = at(x0, y0, c) * (1 - tx) + at(x0 + 1, y0, c) * tx;
        const bottom = at(x0, y0 + 1, c) * (1 - tx) + at(x0 + 1, y0 + 1, c) * tx;
        out[(y * vp.width + x) * 4 + c] = Math.round(top * (1 - ty) + bottom * ty);
      }
    }
  }
  return { width: vp.width, height: vp.height, data: out };
}

/** The largest size with the image's aspect ratio that fits in `box` (never enlarged). */
export function fitInside(width: number, height: number, box: number): { width: number; height: number } {
  const scale = Math.min(1, box / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

export type RenderedType = 'image/jpeg' | 'image/png';

export function encodeImage(rgba: Rgba, type: RenderedType, quality: number): Buffer {
  if (type === 'image/png') {
    const png = new PNG({ width: rgba.width, height: rgba.height, colorType: 2, inputHasAlpha: true });
    png.data = rgba.data;
    return PNG.sync.write(png, { colorType: 2, inputHasAlpha: true });
  }
  return jpeg.encode({ data: rgba.data, width: rgba.width, height: rgba.height }, quality).data;
}
