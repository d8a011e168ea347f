import type { Observation } from '@medplum/fhirtypes';
import type { RedFlagMatcher } from '../../terminology';
import type { Stage, StageContext } from '../types';
import { CRITICAL_FINDING_PROFILE, SEVERITY_EXTENSION } from './critical-values';

export const TEXT_SPAN_EXTENSION = 'urn:fhir-dicomweb-server:StructureDefinition/text-span';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

/**
 * Stage: red-flag findings (pneumothorax, STEMI, sepsis, stroke, suicidal ideation, ...) in the
 * (de-identified) text. Negated and historical mentions are not findings; an uncertain one is,
 * marked abnormal (A) rather than critical (AA). Each finding carries the span it came from.
 */
export function redFlagsStage(matcher: RedFlagMatcher): Stage {
  const stage: Stage = {
    name: 'red-flags',
    version: `1 (${matcher.name} ${matcher.version})`,
    async run(ctx: StageContext) {
      for (const t of ctx.texts) {
        const source = t.deidentified ?? { text: t.text, document: t.document };
        const seen = new Set<string>();
        const mentions = matcher
          .find(source.text)
          .filter((m) => m.status === 'affirmed' || m.status === 'uncertain')
          // An affirmed mention of a finding outranks an uncertain one of the same finding.
          .sort((a, b) => (a.status === b.status ? a.start - b.start : a.status === 'affirmed' ? -1 : 1));
        for (const m of mentions) {
          if (seen.has(m.term.code)) continue;
          seen.add(m.term.code);
          const affirmed = m.status === 'affirmed';
          const finding: Observation = {
            resourceType: 'Observation',
            meta: { profile: [CRITICAL_FINDING_PROFILE] },
            extension: [
              { url: SEVERITY_EXTENSION, valueCode: affirmed ? m.term.severity : 'high' },
              {
                url: TEXT_SPAN_EXTENSION,
                extension: [
                  { url: 'start', valueInteger: m.start },
                  { url: 'end', valueInteger: m.end },
                  { url: 'text', valueString: source.text.slice(m.start, m.end) },
                  ...(m.cue ? [{ url: 'cue', valueString: m.cue }] : []),
                ],
              },
            ],
            status: 'preliminary',
            category: [
              {
                coding: [
                  { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'exam' },
                ],
              },
            ],
            code: {
              coding: [{ system: 'http://snomed.info/sct', code: m.term.code, display: m.term.display }],
              text: `${affirmed ? 'Red flag' : 'Possible red flag'}: ${m.term.display}`,
            },
            ...(ctx.patient && { subject: ctx.patient }),
            effectiveDateTime: ctx.sourceTime,
            interpretation: [
              {
                coding: [
                  affirmed
                    ? { system: INTERPRETATION, code: 'AA', display: 'Critical abnormal' }
                    : { system: INTERPRETATION, code: 'A', display: 'Abnormal' },
                ],
              },
            ],
            derivedFrom: [source.document],
          };
          await ctx.write(stage, {
            key: `${ctx.sourceKey}|redflag|${t.from}|${m.term.code}`,
            resource: finding,
          });
        }
      }
    },
  };
  return stage;
}
