import type { TextReplacement } from '../profile/profile';
import { shiftWrittenDate } from './date-shift';
import { Surrogates } from './surrogates';
import type { Detector, Finding, PhiType } from './types';

/** Eponyms that are always clinical terms, alone or in a phrase. */
const CLINICAL_EPONYMS =
  'Parkinson|Alzheimer|Hodgkin|Crohn|Cushing|Addison|Hashimoto|Raynaud|Tourette|Guillain-Barr[eé]|Apgar|Glasgow|Foley|Valsalva|Holter|Swan-Ganz|Roux-en-Y|Nissen|Wernicke|Korsakoff|Marfan|Klinefelter|Huntington|Meniere|Sj[oö]gren|Tay-Sachs|Willebrand|Brown-S[eé]quard|Kussmaul|Cheyne-Stokes|Trendelenburg|Heimlich|Romberg|Babinski|Epley|Chvostek|Trousseau|Brudzinski|Kernig|Lachman|McMurray|Spurling|Rovsing|McBurney|Virchow|Mallory-Weiss|Zenker|Meckel|Hirschsprung|Wilms|Burkitt|Stevens-Johnson|Kawasaki|Takayasu|Dupuytren|Quervain|Osgood-Schlatter|Scheuermann|Charcot|Chiari|Dandy-Walker|Kaposi|Barrett|Hartmann|Whipple|Colles|Phalen|Tinel|Homans|Ewing|Bowen|Buerger|Paget|Reiter|Horner|Fowler|Levine|Janeway|Osler';
/** Eponyms that are also common names or words: clinical only before one of these nouns. */
const AMBIGUOUS_EPONYMS =
  'Baker|Murphy|Smith|Allen|Beck|Still|Turner|Down|Wilson|Graves|Bell|Gram|Roth|Grey Turner|Cullen|Bennett|Hoffmann|Lou Gehrig|Graham|Jones|Evans|Hunter|Ross';
const CLINICAL_NOUNS =
  'cysts?|disease|syndrome|sign|palsy|catheter|procedure|score|scale|esophagus|sarcoma|lymphoma|tumou?r|fracture|reflex|test|maneuver|manoeuvre|triad|nodes?|ulcer|diverticulum|contracture|tenosynovitis|respiration|position|stain|criteria|bag|classification|operation|repair|anastomosis|pouch|nodules?|spots?|lesions?|phenomenon|dementia|chorea|thyroiditis|hernia|point|law|equation|formula';

const ALLOW = new RegExp(
  `\\b(?:(?:${CLINICAL_EPONYMS})(?:'s|’s|s)?(?:\\s+(?:${CLINICAL_NOUNS}))?|(?:${AMBIGUOUS_EPONYMS})(?:'s|’s|s)?\\s+(?:${CLINICAL_NOUNS}))\\b`,
  'gi',
);

/** When spans overlap, the merged span takes the most specific type. */
const PRIORITY: PhiType[] = [
  'EMAIL',
  'URL',
  'IP',
  'SSN',
  'FAX',
  'PHONE',
  'MRN',
  'ACCOUNT',
  'LICENSE',
  'DATE',
  'AGE',
  'ADDRESS',
  'ZIP',
  'NAME',
  'ID',
  'LOCATION',
  'ORGANIZATION',
];
/** Types the allow-list may overrule (a pattern-matched phone number is never a clinical term). */
const WORDLIKE = new Set<PhiType>(['NAME', 'LOCATION', 'ORGANIZATION']);

export interface TextEntity {
  type: PhiType;
  start: number;
  end: number;
  replacement: string;
}

export interface TextResult {
  text: string;
  entities: TextEntity[];
}

/**
 * Runs every detector, drops word-like findings inside clinical eponyms ("Baker cyst"), spreads a
 * name found once to its other mentions, merges overlaps, and replaces each span with a tag
 * numbered per distinct value ([NAME-1] twice for the same person).
 */
export class TextDeidentifier {
  constructor(private readonly detectors: readonly Detector[]) {}

  async findings(text: string): Promise<Finding[]> {
    const allowed = [...text.matchAll(ALLOW)].map(
      (m) => [m.index ?? 0, (m.index ?? 0) + m[0].length] as const,
    );
    const inAllowed = (f: Finding): boolean =>
      WORDLIKE.has(f.type) && allowed.some(([s, e]) => f.start >= s && f.end <= e);
    const found = async (learnt: boolean): Promise<Finding[]> => {
      const detectors = this.detectors.filter((d) => (d.learnt ?? false) === learnt);
      const raw = (await Promise.all(detectors.map(async (d) => d.detect(text))))
        .flat()
        .filter((f) => f.end > f.start && !inAllowed(f));
      return merge([...raw, ...propagateNames(text, raw).filter((f) => !inAllowed(f))]);
    };
    return addLearnt(await found(false), await found(true));
  }

  /**
   * With `dateShiftDays` (longitudinal profiles), dates it can read are moved by that many days
   * in their own form, so intervals in the text stay true; everything else becomes a tag.
   */
  async deidentify(
    text: string,
    options: { dateShiftDays?: number; replacement?: TextReplacement } = {},
  ): Promise<TextResult> {
    const findings = await this.findings(text);
    const numbers = new Map<string, number>();
    const counters = new Map<PhiType, number>();
    const surrogates = options.replacement === 'surrogate' ? new Surrogates() : undefined;
    const entities: TextEntity[] = findings.map((f) => {
      const value = text.slice(f.start, f.end);
      const shifted =
        f.type === 'DATE' && options.dateShiftDays !== undefined
          ? shiftWrittenDate(value, options.dateShiftDays)
          : undefined;
      const replacement = shifted ?? surrogates?.for(f.type, value);
      if (replacement) return { type: f.type, start: f.start, end: f.end, replacement };
      const key = `${f.type}|${value.toLowerCase().replace(/\s+/g, ' ')}`;
      let n = numbers.get(key);
      if (n === undefined) {
        n = (counters.get(f.type) ?? 0) + 1;
        counters.set(f.type, n);
        numbers.set(key, n);
      }
      return { type: f.type, start: f.start, end: f.end, replacement: `[${f.type}-${n}]` };
    });
    let out = '';
    let at = 0;
    for (const e of entities) {
      out += text.slice(at, e.start) + e.replacement;
      at = e.end;
    }
    return { text: out + text.slice(at), entities };
  }
}

/** Names that are also everyday words: a mention elsewhere is not spread to ("Rose 2 points"). */
const WORD_NAMES = new Set(
  'hope rose grace faith joy will mark bill june april may summer page still young brown bell cook hunter parker baker green white black gray grey rich price long short hill wood fox king bishop dean major frank art pat sue dawn eve ivy holly iris lily daisy violet ruby pearl amber crystal sandy penny chase drew gene guy lane wade rusty sonny buck august autumn winter sky river stone rock cliff glen dale ray sunny hunter graves'.split(
    ' ',
  ),
);

/** Every other mention of a word of a found name is that name too (Philter's propagation). */
function propagateNames(text: string, found: Finding[]): Finding[] {
  const words = new Set<string>();
  for (const f of found) {
    if (f.type !== 'NAME') continue;
    for (const w of text.slice(f.start, f.end).split(/[\s,]+/)) {
      const clean = w.replace(/[.'’]+$/, '');
      if (clean.length > 2 && /^[A-Z][a-zA-Z'’-]+$/.test(clean) && !WORD_NAMES.has(clean.toLowerCase()))
        words.add(clean);
    }
  }
  const out: Finding[] = [];
  for (const w of words) {
    const re = new RegExp(`\\b${w.replace(/[-’']/g, '\\$&')}\\b`, 'g');
    for (const m of text.matchAll(re))
      out.push({ type: 'NAME', start: m.index ?? 0, end: (m.index ?? 0) + w.length, source: 'propagate' });
  }
  return out;
}

/**
 * A model's findings beside the rules': one overlapping a single rule span may widen it (the
 * rule's type stays), one overlapping none is added, and one that would join several rule spans
 * adds nothing (the rules found PHI on both sides and typed it).
 */
function addLearnt(rules: Finding[], learnt: Finding[]): Finding[] {
  const out = rules.map((f) => ({ ...f }));
  const added: Finding[] = [];
  for (const m of learnt) {
    const hit = out.filter((r) => m.start < r.end && r.start < m.end);
    const [only] = hit;
    if (hit.length === 0) added.push(m);
    else if (hit.length === 1 && only) {
      only.start = Math.min(only.start, m.start);
      only.end = Math.max(only.end, m.end);
    }
  }
  return merge([...out, ...added]);
}

/** Overlapping or touching-inside spans become one, typed by PRIORITY. */
function merge(findings: Finding[]): Finding[] {
  const sorted = [...findings].sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Finding[] = [];
  for (const f of sorted) {
    const last = out[out.length - 1];
    if (last && f.start < last.end) {
      last.end = Math.max(last.end, f.end);
      if (PRIORITY.indexOf(f.type) < PRIORITY.indexOf(last.type)) {
        last.type = f.type;
        last.source = f.source;
      }
    } else out.push({ ...f });
  }
  return out;
}
