import path from 'node:path';
import type Tesseract from 'tesseract.js';
import { createWorker, PSM } from 'tesseract.js';

export interface OcrBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface OcrWord {
  text: string;
  /** 0-100, tesseract's own confidence. */
  confidence: number;
  bbox: OcrBox;
}

export interface OcrResult {
  text: string;
  confidence: number;
  words: OcrWord[];
}

/** `document`: pages of running text; `sparse`: scattered labels, as burned into the corners of an image. */
export type OcrLayout = 'document' | 'sparse';

/** The English model shipped in @tesseract.js-data/eng: nothing is fetched at run time. */
export function defaultLangPath(): string {
  return path.join(path.dirname(require.resolve('@tesseract.js-data/eng/package.json')), '4.0.0_best_int');
}

/**
 * OCR with tesseract.js from a local model. The worker (a WebAssembly tesseract in a worker
 * thread) starts on first use and runs one image at a time; calls queue behind each other, so the
 * layout set for one image cannot leak into another.
 */
export class OcrEngine {
  private worker?: Promise<Tesseract.Worker>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly langPath: string = defaultLangPath()) {}

  /** Recognises a PNG, JPEG, BMP or TIFF image. */
  recognize(image: Buffer, layout: OcrLayout = 'document'): Promise<OcrResult> {
    const run = this.queue.then(async () => {
      const worker = await this.start();
      await worker.setParameters({
        tessedit_pageseg_mode: layout === 'sparse' ? PSM.SPARSE_TEXT : PSM.AUTO,
      });
      const { data } = await worker.recognize(image, {}, { text: true, blocks: true });
      const words: OcrWord[] = [];
      for (const block of data.blocks ?? [])
        for (const paragraph of block.paragraphs)
          for (const line of paragraph.lines)
            for (const w of line.words) words.push({ text: w.text, confidence: w.confidence, bbox: w.bbox });
      return { text: data.text, confidence: data.confidence, words };
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await (await worker).terminate();
  }

  private start(): Promise<Tesseract.Worker> {
    this.worker ??= createWorker('eng', 1, {
      langPath: this.langPath,
      gzip: true,
      cacheMethod: 'none',
    });
    return this.worker;
  }
}
