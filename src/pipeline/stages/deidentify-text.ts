import type { DeidProfile, TextDeidentifier } from '../../deid';
import { derivedDocument, textAttachment } from '../documents';
import type { Stage, StageContext } from '../types';

/**
 * Stage: each extracted text through the de-identification engine before any model reads it; the
 * de-identified copy is its own DocumentReference that `relatesTo` (transforms) the original, and
 * later text stages read the copy.
 */
export function deidentifyTextStage(text: TextDeidentifier, profile: DeidProfile): Stage {
  const stage: Stage = {
    name: 'deidentify-text',
    version: `1 (profile ${profile.name} ${profile.version})`,
    async run(ctx: StageContext) {
      for (const t of ctx.texts) {
        const result = await text.deidentify(t.text, { replacement: profile.text.replacement });
        const document = await ctx.write(stage, {
          key: `${ctx.sourceKey}|deid|${t.from}`,
          resource: derivedDocument(
            ctx,
            'De-identified text',
            `De-identified (${profile.name} ${profile.version}) text of ${t.from}`,
            [textAttachment(result.text)],
            {
              meta: {
                security: [
                  {
                    system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
                    code: 'PSEUDED',
                    display: 'pseudonymized',
                  },
                ],
              },
              relatesTo: [{ code: 'transforms', target: t.document }],
            },
          ),
        });
        t.deidentified = { text: result.text, document };
      }
    },
  };
  return stage;
}
