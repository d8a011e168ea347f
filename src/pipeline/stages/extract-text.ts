import type { Attachment, Resource } from '@medplum/fhirtypes';
import type { Repository } from '../../storage';
import { parseLocalReference } from '../../storage';
import type { LabCatalog } from '../../terminology';
import { forOcr, pixelSize } from '../images';
import { derivedDocument, inlineAttachment, textAttachment } from '../documents';
import { notEnglish } from '../language';
import type { PdfText } from '../pdf';
import type { ScannedPage } from '../searchable-pdf';
import { searchablePdf } from '../searchable-pdf';
import type { Stage, StageContext } from '../types';
import { PIPELINE_ACCESS, PipelineInputError } from '../types';

/** Largest attachment the pipeline reads. */
const MAX_BYTES = 64 * 1024 * 1024;
/** Images beyond this many pixels are refused before decoding (a 20000×20000 scan would exhaust memory). */
const MAX_PIXELS = 60_000_000;
/** Mean OCR word confidence below which the text is not trusted at all. */
const MIN_OCR_CONFIDENCE = 40;

function attachmentsOf(source: Resource): [string, Attachment][] {
  if (source.resourceType === 'DiagnosticReport')
    return (source.presentedForm ?? []).map((a, i) => [`presentedForm[${i}]`, a]);
  if (source.resourceType === 'DocumentReference')
    return (source.content ?? []).map((c, i) => [`content[${i}].attachment`, c.attachment]);
  return [];
}

/** The attachment's bytes: inline data, or a Binary on this server (`Binary/{id}`, relative or absolute). */
export async function attachmentBytes(
  repo: Repository,
  fhirBase: string,
  a: Attachment,
  where: string,
): Promise<Buffer> {
  let bytes: Buffer;
  if (a.data !== undefined) bytes = Buffer.from(a.data, 'base64');
  else {
    const target = parseLocalReference(a.url ?? '', fhirBase);
    if (target?.type !== 'Binary' || target.versionId !== undefined)
      throw new PipelineInputError(`${where} has neither data nor a url to a Binary on this server`);
    const stored = await repo.readStored(PIPELINE_ACCESS, 'Binary', target.id);
    if (!stored || stored.deleted)
      throw new PipelineInputError(`${where} points at a Binary that does not exist`);
    const content = await repo.readBinaryContent(PIPELINE_ACCESS, stored.id, stored.versionId);
    if (!content) throw new PipelineInputError(`${where} points at a Binary without content`);
    if (content.size > MAX_BYTES) throw new PipelineInputError(`${where} is larger than ${MAX_BYTES} bytes`);
    const chunks: Buffer[] = [];
    for await (const chunk of content.stream) chunks.push(chunk as Buffer);
    bytes = Buffer.concat(chunks);
  }
  if (bytes.length === 0) throw new PipelineInputError(`${where} is empty`);
  if (bytes.length > MAX_BYTES) throw new PipelineInputError(`${where} is larger than ${MAX_BYTES} bytes`);
  return bytes;
}

/** Which reader a file needs, by its bytes first (a declared type can be wrong). */
function sniff(bytes: Buffer, declared: string): 'text' | 'image' | 'pdf' | undefined {
  if (bytes.subarray(0, 5).toString('latin1') === '%PDF-') return 'pdf';
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'image';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image';
  if (declared.startsWith('text/')) return 'text';
  return undefined;
}

async function ocrImage(
  ctx: StageContext,
  bytes: Buffer,
  where: string,
): Promise<{ text: string; confidence: number; scan: ScannedPage }> {
  const size = await pixelSize(bytes);
  if (!size) throw new PipelineInputError(`${where} is not a readable image`);
  if (size.width * size.height > MAX_PIXELS)
    throw new PipelineInputError(
      `${where} is ${size.width}×${size.height} pixels; the limit is ${MAX_PIXELS}`,
    );
  const result = await ctx.ocr.recognize(await forOcr(bytes), 'document');
  if (result.words.length > 0 && result.confidence < MIN_OCR_CONFIDENCE)
    throw new PipelineInputError(
      `${where}: OCR confidence ${result.confidence.toFixed(0)} is too low to trust`,
    );
  return {
    text: result.text,
    confidence: result.confidence,
    scan: { image: bytes, ...size, words: result.words },
  };
}

/**
 * Stage 1: the text of every attachment (plain text as is, PDFs by their text layer, scans and
 * images through OCR), each kept as a text/plain DocumentReference linked to the source, and for
 * scans a searchable PDF (the page images with the OCR text as an invisible layer).
 */
export function extractTextStage(
  fhirBase: string,
  catalog: LabCatalog,
  readPdf: (bytes: Buffer, where: string) => Promise<PdfText>,
): Stage {
  const stage: Stage = {
    name: 'extract-text',
    version: '1',
    async run(ctx) {
      for (const [where, a] of attachmentsOf(ctx.source)) {
        const bytes = await attachmentBytes(ctx.repo, fhirBase, a, where);
        const kind = sniff(bytes, (a.contentType ?? '').toLowerCase());
        let text: string;
        let ocrConfidence: number | undefined;
        let scans: ScannedPage[] = [];
        if (kind === 'text') text = bytes.toString('utf8');
        else if (kind === 'pdf') ({ text, ocrConfidence, scans } = await readPdf(bytes, where));
        else if (kind === 'image') {
          const read = await ocrImage(ctx, bytes, where);
          ({ text, confidence: ocrConfidence } = read);
          scans = [read.scan];
        } else
          throw new PipelineInputError(
            `${where} (${a.contentType ?? 'no type'}) is not text, PDF or an image`,
          );
        if (text.trim() === '') throw new PipelineInputError(`${where} holds no text`);
        const foreign = notEnglish(text, catalog);
        if (foreign) throw new PipelineInputError(`${where}: ${foreign}; this pipeline reads English`);
        const document = await ctx.write(stage, {
          key: `${ctx.sourceKey}|text|${where}`,
          resource: derivedDocument(
            ctx,
            'Extracted text',
            `Text extracted from ${where} of ${ctx.sourceRef.reference ?? ''}`,
            [
              textAttachment(text),
              // For OCR'd text, every word with its confidence and box, page by page, for review.
              ...(scans.length > 0
                ? [
                    inlineAttachment(
                      Buffer.from(JSON.stringify(scans.map((p) => p.words))),
                      'application/json',
                      'OCR words (text, confidence 0-100, bbox in pixels) per page',
                    ),
                  ]
                : []),
            ],
            { context: { related: [ctx.sourceRef] } },
          ),
        });
        ctx.texts.push({
          text,
          document,
          from: where,
          ...(ocrConfidence !== undefined && { ocrConfidence }),
        });
        if (scans.length > 0) {
          const pdf = await searchablePdf(scans);
          await ctx.write(stage, {
            key: `${ctx.sourceKey}|searchable-pdf|${where}`,
            resource: derivedDocument(
              ctx,
              'Searchable PDF',
              `The scanned pages of ${where} with their OCR text as an invisible layer`,
              [inlineAttachment(pdf, 'application/pdf')],
              { context: { related: [ctx.sourceRef] } },
            ),
          });
        }
      }
    },
  };
  return stage;
}
