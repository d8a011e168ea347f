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

/** One tesseract worker thread and the calls queued on it. */
interface Slot {
  worker?: Promise<Tesseract.Worker>;
  queue: Promise<unknown>;
  pending: number;
}

/**
 * OCR with tesseract.js from a local model. Each worker (a WebAssembly tesseract in a worker
 * thread) starts on first use and reads one image at a time; a call goes to the least busy one,
 * and calls on one worker queue behind each other, so the layout set for one image cannot leak
 * into another.
 */
export class OcrEngine {
  private readonly slots: Slot[];

  constructor(
    private readonly langPath: string = defaultLangPath(),
    workers = 1,
  ) {
    this.slots = Array.from({ length: Math.max(1, workers) }, () => ({
      queue: Promise.resolve(),
      pending: 0,
    }));
  }

  /** Recognises a PNG, JPEG, BMP or TIFF image. */
  recognize(image: Buffer, layout: OcrLayout = 'document'): Promise<OcrResult> {
    const slot = this.slots.reduce((a, b) => (b.pending < a.pending ? b : a));
    slot.pending++;
    const run = slot.queue.then(async () => {
      const worker = await this.start(slot);
      await worker.setParameters({
        tessedit_pageseg_mode: layout === 'sparse' ? PSM.SPARSE_TEXT : PSM.AUTO,
        // Tesseract's diagnostics ("Detected N diacritics") otherwise go to the process's stderr.
        debug_file: '/dev/null',
      });
      const { data } = await worker.recognize(image, {}, { text: true, blocks: true });
      const words: OcrWord[] = [];
      for (const block of data.blocks ?? [])
        for (const paragraph of block.paragraphs)
          for (const line of paragraph.lines)
            for (const w of line.words) words.push({ text: w.text, confidence: w.confidence, bbox: w.bbox });
      return { text: data.text, confidence: data.confidence, words };
    });
    slot.queue = run
      .catch(() => undefined)
      .finally(() => {
        slot.pending--;
      });
    return run;
  }

  async close(): Promise<void> {
    for (const slot of this.slots) {
      const worker = slot.worker;
      slot.worker = undefined;
      if (worker) await (await worker).terminate();
    }
  }

  private start(slot: Slot): Promise<Tesseract.Worker> {
    slot.worker ??= createWorker('eng', 1, {
      langPath: this.langPath,
      gzip: true,
      cacheMethod: 'none',
    });
    return slot.worker;
  }
}
