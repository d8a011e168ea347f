import { createHash } from 'node:crypto';
import type { Attachment, DocumentReference } from '@medplum/fhirtypes';
import type { StageContext } from './types';

/**
 * A document the pipeline derives from its source (extracted text, searchable PDF, de-identified
 * text): preliminary, about the source's patient, dated by the source version, with `extra`
 * saying how it relates to what it came from.
 */
export function derivedDocument(
  ctx: StageContext,
  kind: string,
  description: string,
  attachments: Attachment[],
  extra: Partial<DocumentReference>,
): DocumentReference {
  return {
    resourceType: 'DocumentReference',
    status: 'current',
    docStatus: 'preliminary',
    type: { text: kind },
    ...(ctx.patient && { subject: ctx.patient }),
    date: ctx.sourceTime,
    description,
    content: attachments.map((attachment) => ({ attachment })),
    ...extra,
  };
}

/** Inline bytes as an Attachment with the `size` and sha-1 `hash` R4 defines, so readers can check them. */
export function inlineAttachment(bytes: Buffer, contentType: string, title?: string): Attachment {
  return {
    contentType,
    ...(title && { title }),
    data: bytes.toString('base64'),
    size: bytes.length,
    hash: createHash('sha1').update(bytes).digest('base64'),
  };
}

export function textAttachment(text: string): Attachment {
  return inlineAttachment(Buffer.from(text, 'utf8'), 'text/plain; charset=utf-8');
}
