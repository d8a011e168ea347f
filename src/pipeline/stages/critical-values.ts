import type { Observation } from '@medplum/fhirtypes';
import type { CriticalLimits, LabCatalog } from '../../terminology';
import type { Stage, StageContext } from '../types';
import { PIPELINE_SYSTEM } from '../types';

const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
/** Published in profiles/critical-finding.json; every flag the pipeline writes claims it. */
export const CRITICAL_FINDING_PROFILE = 'urn:fhir-dicomweb-server:StructureDefinition/critical-finding';
export const SEVERITY_EXTENSION = 'urn:fhir-dicomweb-server:StructureDefinition/finding-severity';

/**
 * Stage: every lab Observation of the run (the source itself, the report's results, the values
 * extracted from its text) is checked against the critical-value table; one at or beyond a limit
 * gets a critical-finding Observation (interpretation HH or LL, derivedFrom the value).
 */
export function criticalValuesStage(limits: CriticalLimits, catalog: LabCatalog): Stage {
  const stage: Stage = {
    name: 'critical-values',
    version: `1 (${limits.name} ${limits.version})`,
    async run(ctx: StageContext) {
      for (const { observation, ref } of ctx.labs) {
        const loinc = observation.code.coding?.find((c) => c.system === 'http://loinc.org')?.code;
        const q = observation.valueQuantity;
        if (!loinc || q?.value === undefined) continue;
        const test = catalog.byCode(loinc);
        const value = test
          ? catalog.convert(test, q.value, q.code ?? q.unit)
          : limits.unitOf(loinc) === (q.code ?? q.unit)
            ? q.value
            : undefined;
        if (value === undefined) {
          ctx.review.push(
            `${ref.reference ?? ''}: unit ${q.code ?? q.unit ?? ''} cannot be compared with the critical limits`,
          );
          continue;
        }
        const hit = limits.evaluate(loinc, value, ctx.ageYears);
        if (!hit) continue;
        const name = test?.display ?? observation.code.text ?? loinc;
        const word = hit.flag === 'HH' ? 'critically high' : 'critically low';
        const flag: Observation = {
          resourceType: 'Observation',
          meta: { profile: [CRITICAL_FINDING_PROFILE] },
          extension: [{ url: SEVERITY_EXTENSION, valueCode: 'critical' }],
          status: 'preliminary',
          category: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' },
              ],
            },
          ],
          code: {
            coding: [
              { system: PIPELINE_SYSTEM, code: 'critical-lab-value', display: 'Critical laboratory value' },
            ],
            text: `${name} ${word}`,
          },
          ...(ctx.patient && { subject: ctx.patient }),
          effectiveDateTime: observation.effectiveDateTime ?? ctx.sourceTime,
          valueQuantity: {
            value,
            unit: test?.unit ?? q.unit,
            system: 'http://unitsofmeasure.org',
            code: test?.unit ?? q.code,
          },
          interpretation: [
            {
              coding: [
                {
                  system: INTERPRETATION,
                  code: hit.flag,
                  display: hit.flag === 'HH' ? 'Critical high' : 'Critical low',
                },
              ],
            },
          ],
          referenceRange: [
            {
              ...(hit.flag === 'LL' ? { low: { value: hit.limit } } : { high: { value: hit.limit } }),
              text: `critical limit (${limits.name} ${limits.version})`,
            },
          ],
          derivedFrom: [ref],
        };
        // Keyed by the value it is about: the same value seen by several runs is one finding.
        await ctx.write(stage, {
          key: `critical|${ref.reference ?? ''}`,
          resource: flag,
          derivedFrom: [ref],
        });
      }
    },
  };
  return stage;
}
