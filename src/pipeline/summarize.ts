import type {
  Composition,
  CompositionSection,
  DocumentReference,
  Observation,
  Reference,
  Resource,
} from '@medplum/fhirtypes';
import nlp from 'compromise';
import { removeStopwords } from 'stopword';
import type { TextParser } from 'ts-textrank';
import {
  AbsoluteSummarizerConfig,
  NullLogger,
  Sentence,
  SorensenDiceSimilarity,
  Summarizer,
  Text,
  Word,
} from 'ts-textrank';
import type { SearchParamRegistry } from '../search';
import { executeSearch, parseSearch } from '../search';
import type { Clock } from '../shared';
import { stableUuid } from '../shared';
import type { Repository } from '../storage';
import type { RedFlagMatcher } from '../terminology';
import { CRITICAL_FINDING_PROFILE } from './stages/critical-values';

/** Most inputs of each kind one summary reads (the newest first). */
const MAX_INPUTS = 200;
/** Sentences taken from each report or note. */
const SENTENCES_PER_TEXT = 2;
const ABNORMAL = new Set(['H', 'L', 'HH', 'LL', 'A', 'AA', 'HU', 'LU']);
const CRITICAL = new Set(['HH', 'LL', 'AA']);

export interface SummaryScope {
  patient: string;
  /** "Encounter/id" for an encounter's own summary. */
  encounter?: string;
}

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const interpretationOf = (o: Observation): string | undefined => o.interpretation?.[0]?.coding?.[0]?.code;

/** Whether a summary lists the Observation under Abnormal labs. */
export const listedAsAbnormal = (o: Observation): boolean =>
  !o.meta?.profile?.includes(CRITICAL_FINDING_PROFILE) &&
  (o.category?.some((c) => c.coding?.some((x) => x.code === 'laboratory')) ?? false) &&
  ABNORMAL.has(interpretationOf(o) ?? '');

function describe(o: Observation): string {
  const q = o.valueQuantity;
  const value = q?.value !== undefined ? ` ${q.value} ${q.unit ?? q.code ?? ''}`.trimEnd() : '';
  const name = o.code.text ?? o.code.coding?.[0]?.display ?? o.code.coding?.[0]?.code ?? 'Observation';
  return `${name}${value}${interpretationOf(o) ? ` (${interpretationOf(o) ?? ''})` : ''}`;
}

function section(
  title: string,
  code: string,
  items: { text: string; severity: 'critical' | 'abnormal' | 'normal'; refs: string[] }[],
  empty: string,
): CompositionSection {
  const entry: Reference[] = [...new Set(items.flatMap((i) => i.refs))].map((reference) => ({ reference }));
  const list = items
    .map(
      (i) =>
        `<li class="${i.severity}">${escapeXml(i.text)} ${i.refs
          .map((r) => `<a href="${escapeXml(r)}">[${escapeXml(r)}]</a>`)
          .join(' ')}</li>`,
    )
    .join('');
  return {
    title,
    code: { coding: [{ system: 'urn:fhir-dicomweb-server:summary-section', code }], text: title },
    text: {
      status: 'generated',
      div: `<div xmlns="http://www.w3.org/1999/xhtml">${items.length > 0 ? `<ul>${list}</ul>` : `<p>${escapeXml(empty)}</p>`}</div>`,
    },
    ...(entry.length > 0
      ? { entry }
      : {
          emptyReason: {
            coding: [
              {
                system: 'http://terminology.hl7.org/CodeSystem/list-empty-reason',
                code: 'nilknown',
                display: 'Nil Known',
              },
            ],
          },
        }),
  };
}

/**
 * Sentences split by compromise, which knows "Dr." and "Ms." do not end one (ts-textrank's own
 * parser splits at every full stop); words lower-cased without stop words, for the similarity.
 */
const clinicalParser: TextParser = {
  parse(text: string): Text {
    const raws = (nlp(text).sentences().out('array') as string[])
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const sentences = raws.map((raw, i) => {
      const words = removeStopwords(raw.toLowerCase().match(/[a-z0-9]+/g) ?? []).map((w) => new Word(w));
      return new Sentence(raw, words, i + 1);
    });
    return new Text(text, sentences);
  },
};

/**
 * Builds the machine summary of a patient (or of one encounter): sections in a fixed order
 * (Critical findings, Abnormal labs, Reports and notes, Imaging), each entry referencing what it
 * came from, XHTML narrative with severity classes, and TextRank sentences from each
 * de-identified report, each citing the text it was taken from.
 */
export function createSummarizer(
  registry: SearchParamRegistry,
  fhirBase: string,
  clock: Clock,
  redFlags: RedFlagMatcher,
) {
  const severityOf = (sentence: string): 'critical' | 'abnormal' | 'normal' => {
    const found = redFlags.find(sentence).map((m) => m.status);
    return found.includes('affirmed') ? 'critical' : found.includes('uncertain') ? 'abnormal' : 'normal';
  };
  /**
   * A text's summary: every sentence with an affirmed or possible red flag, then the most
   * central others by TextRank up to SENTENCES_PER_TEXT, in the order they were written.
   */
  const summarizeText = (text: string): { text: string; severity: 'critical' | 'abnormal' | 'normal' }[] => {
    const sentences = clinicalParser
      .parse(text, 'en')
      .sentences.map((s) => ({ text: s.raw, severity: severityOf(s.raw) }));
    if (sentences.length === 0) return [];
    const ranked = new Summarizer(
      new AbsoluteSummarizerConfig(
        sentences.length,
        new SorensenDiceSimilarity(),
        clinicalParser,
        0.85,
        Summarizer.SORT_SCORE,
      ),
      new NullLogger(),
    ).summarize(text, 'en');
    const rank = new Map(ranked.map((sentence, i) => [sentence, i]));
    const central = new Set(
      sentences
        .filter((s) => s.severity === 'normal')
        .sort((a, b) => (rank.get(a.text) ?? 0) - (rank.get(b.text) ?? 0))
        .slice(0, SENTENCES_PER_TEXT)
        .map((s) => s.text),
    );
    return sentences.filter((s) => s.severity !== 'normal' || central.has(s.text));
  };
  const search = async <T extends Resource>(
    repo: Repository,
    type: string,
    params: [string, string][],
  ): Promise<T[]> => {
    const query = parseSearch(type, [...params, ['_sort', '-_lastUpdated']], registry, {
      strict: true,
      defaultCount: MAX_INPUTS,
      maxCount: MAX_INPUTS,
    });
    const page = await executeSearch(await repo.reader(), query, { fhirBase, now: clock.now() });
    return page.contents.map((c) => JSON.parse(c) as T);
  };

  /**
   * The summaries of several scopes: each patient's Observations and texts are searched once, and
   * each text summarised once, however many of its encounters' summaries list it.
   */
  return async (repo: Repository, scopes: readonly SummaryScope[], date: string): Promise<Composition[]> => {
    const inputs = new Map<string, Promise<{ observations: Observation[]; texts: DocumentReference[] }>>();
    const summaries = new Map<string, ReturnType<typeof summarizeText>>();
    const ref = (r: Resource): string => `${r.resourceType}/${r.id ?? ''}`;
    const summaryOf = (d: DocumentReference): ReturnType<typeof summarizeText> => {
      let found = summaries.get(ref(d));
      if (!found) {
        // Lines of a report are sentences of their own, even without a full stop.
        const text = Buffer.from(d.content[0]?.attachment.data ?? '', 'base64')
          .toString('utf8')
          .replace(/([^.!?\s])[ \t]*\r?\n/g, '$1.\n');
        found = summarizeText(text);
        summaries.set(ref(d), found);
      }
      return found;
    };
    const compositions: Composition[] = [];
    for (const scope of scopes) {
      let patientInputs = inputs.get(scope.patient);
      if (!patientInputs) {
        patientInputs = (async () => ({
          observations: await search<Observation>(repo, 'Observation', [['subject', scope.patient]]),
          texts: (
            await search<DocumentReference>(repo, 'DocumentReference', [['subject', scope.patient]])
          ).filter((d) => d.meta?.security?.some((s) => s.code === 'PSEUDED')),
        }))();
        inputs.set(scope.patient, patientInputs);
      }
      const all = await patientInputs;
      compositions.push(composition(scope, date, all.observations, all.texts, summaryOf));
    }
    return compositions;
  };
}

function composition(
  scope: SummaryScope,
  date: string,
  all: Observation[],
  allTexts: DocumentReference[],
  summaryOf: (d: DocumentReference) => { text: string; severity: 'critical' | 'abnormal' | 'normal' }[],
): Composition {
  const observations = all.filter((o) => !scope.encounter || o.encounter?.reference === scope.encounter);
  const critical = observations.filter(
    (o) => o.meta?.profile?.includes(CRITICAL_FINDING_PROFILE) && o.status !== 'entered-in-error',
  );
  const abnormal = observations.filter(listedAsAbnormal);
  const texts = allTexts.filter(
    (d) => !scope.encounter || d.context?.encounter?.some((e) => e.reference === scope.encounter),
  );
  const ref = (r: Resource): string => `${r.resourceType}/${r.id ?? ''}`;
  const sentences = texts.flatMap((d) => summaryOf(d).map((s) => ({ ...s, refs: [ref(d)] })));
  const subject = { reference: scope.patient };
  return {
    resourceType: 'Composition',
    id: stableUuid(`pipeline-composition|${scope.encounter ?? scope.patient}`),
    status: 'preliminary',
    type: {
      coding: [{ system: 'http://loinc.org', code: '60591-5', display: 'Patient summary Document' }],
    },
    subject,
    ...(scope.encounter && { encounter: { reference: scope.encounter } }),
    date,
    author: [{ reference: 'Device/clinical-pipeline', display: 'clinical pipeline (machine-generated)' }],
    title: `Machine-generated summary${scope.encounter ? ' of the encounter' : ''}, awaiting attestation`,
    section: [
      section(
        'Critical findings',
        'critical-findings',
        critical.map((o) => ({
          text: describe(o),
          severity: CRITICAL.has(interpretationOf(o) ?? '') ? 'critical' : 'abnormal',
          refs: [ref(o), ...(o.derivedFrom ?? []).flatMap((d) => (d.reference ? [d.reference] : []))],
        })),
        'No critical findings.',
      ),
      section(
        'Abnormal labs',
        'abnormal-labs',
        abnormal.map((o) => ({ text: describe(o), severity: 'abnormal', refs: [ref(o)] })),
        'No abnormal laboratory values.',
      ),
      section('Reports and notes', 'reports-and-notes', sentences, 'No reports or notes.'),
      section('Imaging', 'imaging', [], 'No imaging results are summarised yet.'),
    ],
  };
}

export type SummarizeFn = ReturnType<typeof createSummarizer>;
