import {
  PDFDocument,
  popGraphicsState,
  pushGraphicsState,
  setTextRenderingMode,
  StandardFonts,
  TextRenderingMode,
} from 'pdf-lib';
import type { OcrWord } from '../ocr';
import { asJpeg } from './images';

/** A scanned page: its image (PNG or JPEG, as read) and the words OCR found on it, in pixels. */
export interface ScannedPage {
  image: Buffer;
  width: number;
  height: number;
  words: OcrWord[];
}

/** Pages are laid out at this resolution (pixels per inch). */
const DPI = 300;
/** WinAnsi text only: Helvetica cannot show other characters, and invisible text needs none. */
const printable = (s: string): string => s.replace(/[^\x20-\x7e\u00a0-\u00ff]/g, '');

/**
 * The searchable PDF of a scan: each page is the original image, with every word OCR read laid
 * over it as invisible text (rendering mode 3) at its position and width, so a viewer finds and
 * selects the words while showing only the scan.
 */
export async function searchablePdf(pages: ScannedPage[]): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (const p of pages) {
    // Pages go in as JPEG: pdf-lib copies JPEG bytes as they are, while it re-compresses PNG in
    // JavaScript, which for a 300 dpi page costs seconds.
    const image = await pdf.embedJpg(await asJpeg(p.image));
    const scale = 72 / DPI;
    const page = pdf.addPage([p.width * scale, p.height * scale]);
    page.drawImage(image, { x: 0, y: 0, width: p.width * scale, height: p.height * scale });
    page.pushOperators(pushGraphicsState(), setTextRenderingMode(TextRenderingMode.Invisible));
    for (const w of p.words) {
      const text = printable(w.text);
      const unit = font.widthOfTextAtSize(text, 1);
      if (text === '' || unit === 0) continue;
      const boxWidth = (w.bbox.x1 - w.bbox.x0) * scale;
      const boxHeight = (w.bbox.y1 - w.bbox.y0) * scale;
      const size = Math.max(1, Math.min(boxHeight, boxWidth / unit));
      page.drawText(text, { x: w.bbox.x0 * scale, y: (p.height - w.bbox.y1) * scale, size, font });
    }
    page.pushOperators(popGraphicsState());
  }
  return Buffer.from(await pdf.save());
}
