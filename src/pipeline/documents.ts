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
