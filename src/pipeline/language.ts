import { en as ENGLISH_STOPWORDS } from 'stopword';
import type { LabCatalog } from '../terminology';

/** Texts shorter than this many words are not judged: a lab report can be names and numbers. */
const MIN_WORDS = 25;
/** Share of words English stop words or known test names must reach. */
const MIN_KNOWN = 0.12;
/** Share of letters outside the Latin script above which a text is not English. */
const MAX_NON_LATIN = 0.3;

/**
 * Whether a text can be read by this pipeline, which knows English: its rules, tables and OCR
 * model are English. Returns the reason when it cannot. Deliberately lenient (short texts and
 * lab lists pass); a text in another language fails its run rather than being read wrong.
 */
export function notEnglish(text: string, catalog: LabCatalog): string | undefined {
  const letters = text.match(/\p{L}/gu) ?? [];
  if (letters.length > 0) {
    const nonLatin = letters.filter((c) => !/\p{Script=Latin}/u.test(c)).length / letters.length;
    if (nonLatin > MAX_NON_LATIN)
      return `the text is in a non-Latin script (${Math.round(nonLatin * 100)}% of letters)`;
  }
  const words = (text.toLowerCase().match(/\p{L}{2,}/gu) ?? []).filter((w) => w.length >= 2);
  if (words.length < MIN_WORDS) return undefined;
  const known = new Set([
    ...ENGLISH_STOPWORDS,
    'no',
    'not',
    'of',
    'the',
    'with',
    'without',
    ...catalog.aliases,
  ]);
  const share = words.filter((w) => known.has(w)).length / words.length;
  return share < MIN_KNOWN
    ? `the text does not appear to be English (${Math.round(share * 100)}% English words)`
    : undefined;
}
