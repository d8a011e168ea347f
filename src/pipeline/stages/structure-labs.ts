import type { CodeableConcept, Observation } from '@medplum/fhirtypes';
import type { LabCatalog, LabTest } from '../../terminology';
import type { Stage, StageContext } from '../types';

const UCUM = 'http://unitsofmeasure.org';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
/** OCR'd lines read with less confidence than this are kept for review, not turned into values. */
const MIN_LINE_CONFIDENCE = 70;

const NUMBER = '[<>]?\\s*\\d+(?:[.,]\\d+)?';
const UNIT = '(?:10\\*\\d\\/[uµ]L|x10\\^\\d\\/[uµ]L|[KkMm]\\/[uµ]L|[a-zA-Zµ%/{}*^0-9.]+)';

export interface LabLine {
  test: LabTest;
  /** The line as printed (for review notes; lab lines hold no identifiers by themselves). */
  line: string;
  value: number;
  unit?: string;
  low?: number;
  high?: number;
  flag?: string;
}

/**
 * Lines such as "Potassium 6.8 mmol/L (3.5-5.1) H" or "K+: 6.8 mmol/L 3.5 - 5.1 HIGH": a name
 * from the catalogue at the start of the line (after at most three stray marks, which OCR reads
 * into speckles), a number, an optional unit, range and flag.
 */
function labLineParser(catalog: LabCatalog): (text: string) => LabLine[] {
  const names = catalog.aliases.map((a) => a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  const re = new RegExp(
    `^\\s*[^\\sA-Za-z0-9]{0,3}\\s*(${names})(?![A-Za-z0-9])\\s*[:=]?\\s*(${NUMBER})\\s*(${UNIT})?\\s*(?:\\(?\\s*(?:ref(?:erence)?\\.?\\s*(?:range)?:?\\s*)?(${NUMBER})\\s*[-–]\\s*(${NUMBER})\\s*\\)?)?\\s*(HH|LL|H|L|HIGH|LOW|CRIT(?:ICAL)?|A)?\\b`,
    'i',
  );
  return (text) => {
    const out: LabLine[] = [];
    for (const raw of text.split(/\r?\n/)) {
      const m = re.exec(raw);
      const test = m?.[1] ? catalog.byName(m[1]) : undefined;
      if (!m || !test) continue;
      const num = (s: string | undefined): number | undefined =>
        s === undefined ? undefined : Number(s.replace(/[<>\s]/g, '').replace(',', '.'));
      const value = num(m[2]);
      if (value === undefined) continue;
      const low = num(m[4]);
      const high = num(m[5]);
      out.push({
        test,
        line: raw.trim(),
        value,
        ...(m[3] && { unit: m[3] }),
        ...(low !== undefined && { low }),
        ...(high !== undefined && { high }),
        ...(m[6] && { flag: m[6].toUpperCase() }),
      });
    }
    return out;
  };
}

function interpretation(l: LabLine, value: number): CodeableConcept | undefined {
  const flag = l.flag?.startsWith('H') ? 'H' : l.flag?.startsWith('L') ? 'L' : undefined;
  const code =
    flag ??
    (l.high !== undefined && value > l.high ? 'H' : l.low !== undefined && value < l.low ? 'L' : undefined) ??
    (l.low !== undefined || l.high !== undefined ? 'N' : undefined);
  if (!code) return undefined;
  const display = { H: 'High', L: 'Low', N: 'Normal' }[code];
  return { coding: [{ system: INTERPRETATION, code, display }] };
}

/**
 * Stage 2: lab values printed in the extracted text become Observations (LOINC, UCUM, reference
 * range, interpretation, derivedFrom the text). A value in a unit the catalogue does not know,
 * outside physiologic bounds, or on a line OCR read poorly is listed for review instead: never
 * guessed.
 */
export function structureLabsStage(catalog: LabCatalog): Stage {
  const parseLabLines = labLineParser(catalog);
  const stage: Stage = {
    name: 'structure-labs',
    version: '1',
    async run(ctx: StageContext) {
      for (const text of ctx.texts) {
        if (text.ocrConfidence !== undefined && text.ocrConfidence < MIN_LINE_CONFIDENCE) {
          ctx.review.push(
            `${text.from}: OCR confidence ${text.ocrConfidence.toFixed(0)}; values not extracted`,
          );
          continue;
        }
        for (const [n, l] of parseLabLines(text.text).entries()) {
          const value = catalog.convert(l.test, l.value, l.unit);
          if (value === undefined) {
            ctx.review.push(
              `${text.from}: "${l.line}": unit ${l.unit ?? ''} is not one ${l.test.loinc} is known in`,
            );
            continue;
          }
          const [min, max] = l.test.plausible;
          if (value < min || value > max) {
            ctx.review.push(`${text.from}: "${l.line}": ${value} ${l.test.unit} is outside plausible bounds`);
            continue;
          }
          const factor = l.value === 0 ? 1 : value / l.value;
          const quantity = (v: number) => ({
            value: Number(v.toPrecision(6)),
            unit: l.test.unit,
            system: UCUM,
            code: l.test.unit,
          });
          const interp = interpretation(l, l.value);
          const observation: Observation = {
            resourceType: 'Observation',
            status: 'preliminary',
            category: [
              {
                coding: [
                  {
                    system: 'http://terminology.hl7.org/CodeSystem/observation-category',
                    code: 'laboratory',
                  },
                ],
              },
            ],
            code: { coding: [{ system: 'http://loinc.org', code: l.test.loinc, display: l.test.display }] },
            ...(ctx.patient && { subject: ctx.patient }),
            effectiveDateTime: ctx.sourceTime,
            valueQuantity: quantity(value),
            ...((l.low !== undefined || l.high !== undefined) && {
              referenceRange: [
                {
                  ...(l.low !== undefined && { low: quantity(l.low * factor) }),
                  ...(l.high !== undefined && { high: quantity(l.high * factor) }),
                },
              ],
            }),
            ...(interp && { interpretation: [interp] }),
            derivedFrom: [text.document],
          };
          const ref = await ctx.write(stage, {
            key: `${ctx.sourceKey}|lab|${text.from}|${n}|${l.test.loinc}`,
            resource: observation,
          });
          ctx.labs.push({ observation, ref });
        }
      }
    },
  };
  return stage;
}
