import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { OcrEngine } from '../ocr';
import type { ScannedPage } from './searchable-pdf';
import { forOcr, pixelSize } from './images';
import { PipelineInputError } from './types';

const run = promisify(execFile);

export interface PdfText {
  text: string;
  ocrConfidence?: number;
  /** Pages that had no text layer, as read by OCR. */
  scans: ScannedPage[];
}
/** Resolution scanned pages are rasterised at for OCR. */
const OCR_DPI = 300;

/** Pages read from one PDF; a longer document belongs in a batch import, not a report. */
const MAX_PAGES = 200;

interface PdfTextItem {
  str?: string;
  hasEOL?: boolean;
}
interface PdfJs {
  getDocument(src: {
    data: Uint8Array;
    isEvalSupported: boolean;
    disableFontFace: boolean;
    verbosity: number;
  }): {
    promise: Promise<{
      numPages: number;
      getPage(n: number): Promise<{ getTextContent(): Promise<{ items: PdfTextItem[] }> }>;
      destroy(): Promise<void>;
    }>;
  };
}

/**
 * The text of a PDF: its text layer, page by page (pdfjs-dist); a page without one (a scan) is
 * rasterised by poppler's pdftoppm and read by OCR. Encrypted and unreadable files are input
 * errors, reported as such.
 */
export function createPdfReader(ocr: OcrEngine): (bytes: Buffer, where: string) => Promise<PdfText> {
  return async (bytes, where) => {
    // Loaded on first use: pdfjs probes for an optional canvas package when it loads.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pdfjs = require('pdfjs-dist/legacy/build/pdf.js') as PdfJs;
    let doc;
    try {
      doc = await pdfjs.getDocument({
        data: new Uint8Array(bytes),
        isEvalSupported: false,
        disableFontFace: true,
        verbosity: 0,
      }).promise;
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'PasswordException') throw new PipelineInputError(`${where} is an encrypted PDF`);
      throw new PipelineInputError(`${where} is not a readable PDF (${name})`);
    }
    try {
      if (doc.numPages > MAX_PAGES)
        throw new PipelineInputError(`${where} has ${doc.numPages} pages; the limit is ${MAX_PAGES}`);
      const pages: string[] = [];
      const confidences: number[] = [];
      const scans: ScannedPage[] = [];
      for (let n = 1; n <= doc.numPages; n++) {
        const content = await (await doc.getPage(n)).getTextContent();
        let page = content.items.map((i) => `${i.str ?? ''}${i.hasEOL ? '\n' : ''}`).join('');
        if (page.trim() === '') {
          const image = await rasterise(bytes, n);
          const scanned = await ocr.recognize(await forOcr(image), 'document');
          page = scanned.text;
          confidences.push(scanned.confidence);
          const size = await pixelSize(image);
          if (size) scans.push({ image, ...size, words: scanned.words });
        }
        pages.push(page);
      }
      const text = pages.join('\n\f');
      return confidences.length > 0
        ? { text, ocrConfidence: confidences.reduce((a, b) => a + b, 0) / confidences.length, scans }
        : { text, scans };
    } finally {
      await doc.destroy();
    }
  };
}

/** One page as a PNG at OCR_DPI (poppler-utils' pdftoppm). */
async function rasterise(pdf: Buffer, page: number): Promise<Buffer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pdf-'));
  try {
    await fs.writeFile(path.join(dir, 'in.pdf'), pdf);
    await run(
      'pdftoppm',
      [
        '-r',
        String(OCR_DPI),
        '-png',
        '-singlefile',
        '-f',
        String(page),
        '-l',
        String(page),
        'in.pdf',
        'page',
      ],
      {
        cwd: dir,
        timeout: 120_000,
      },
    );
    return await fs.readFile(path.join(dir, 'page.png'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !(err as { path?: string }).path)
      throw new Error('pdftoppm is not installed (apt-get install poppler-utils)');
    throw err;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
