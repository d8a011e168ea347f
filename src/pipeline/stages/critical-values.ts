import type { Observation, Patient, Reference } from '@medplum/fhirtypes';
import type { CriticalLimits, LabCatalog } from '../../terminology';
import type { Stage, StageContext, StageOutput } from '../types';
import { PIPELINE_SYSTEM } from '../types';

const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
/** Published in profiles/critical-finding.json; every flag the pipeline writes claims it. */
export const CRITICAL_FINDING_PROFILE = 'urn:fhir-dicomweb-server:StructureDefinition/critical-finding';
export const SEVERITY_EXTENSION = 'urn:fhir-dicomweb-server:StructureDefinition/finding-severity';

/** The critical-value check of one lab value: a finding to write, a note for review, or nothing. */
export interface LabCheck {
  finding?: StageOutput<Observation>;
  review?: string;
}

export interface CriticalValuesStage extends Stage {
  /** Checks one value; `at` is what a finding without its own effective time is dated. */
  check(
    lab: { observation: Observation; ref: Reference<Observation> },
    context: { patient?: Reference<Patient>; ageYears?: number; at: string },
  ): LabCheck;
}

/**
 * Stage: every lab Observation of the run (the source itself, the report's results, the values
 * extracted from its text) is checked against the critical-value table; one at or beyond a limit
 * gets a critical-finding Observation (interpretation HH or LL, derivedFrom the value).
 */
export function criticalValuesStage(limits: CriticalLimits, catalog: LabCatalog): CriticalValuesStage {
  const check: CriticalValuesStage['check'] = ({ observation, ref }, context) => {
    const loinc = observation.code.coding?.find((c) => c.system === 'http://loinc.org')?.code;
    const q = observation.valueQuantity;
    // A test the table has no limit for has nothing to be checked against.
    if (!loinc || q?.value === undefined || limits.unitOf(loinc) === undefined) return {};
    const test = catalog.byCode(loinc);
    const value = test
      ? catalog.convert(test, q.value, q.code ?? q.unit)
      : limits.unitOf(loinc) === (q.code ?? q.unit)
        ? q.value
        : undefined;
    if (value === undefined)
      return {
        review: `${ref.reference ?? ''}: unit ${q.code ?? q.unit ?? ''} cannot be compared with the critical limits`,
      };
    const hit = limits.evaluate(loinc, value, context.ageYears);
    if (!hit) return {};
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
      ...(context.patient && { subject: context.patient }),
      effectiveDateTime: observation.effectiveDateTime ?? context.at,
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
    return { finding: { key: `critical|${ref.reference ?? ''}`, resource: flag, derivedFrom: [ref] } };
  };
  const stage: CriticalValuesStage = {
    name: 'critical-values',
    version: `1 (${limits.name} ${limits.version})`,
    check,
    async run(ctx: StageContext) {
      for (const lab of ctx.labs) {
        const { finding, review } = check(lab, {
          ...(ctx.patient && { patient: ctx.patient }),
          ...(ctx.ageYears !== undefined && { ageYears: ctx.ageYears }),
          at: ctx.sourceTime,
        });
        if (review) ctx.review.push(review);
        if (finding) await ctx.write(stage, finding);
      }
    },
  };
  return stage;
}
