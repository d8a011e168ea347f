import path from 'node:path';
import type { Finding, PhiType } from '../src/deid';

export interface CorpusDoc {
  id: string;
  kind: 'discharge' | 'radiology' | 'lab' | 'dictation' | 'progress' | 'transcript' | 'message';
  text: string;
  phi: { type: PhiType; start: number; end: number }[];
}

/** Written by `npx tsx bench/deid-corpus.ts`; read by the deid bench and tests. */
export const CORPUS_FILE = path.join(__dirname, '..', 'test', 'deid', 'corpus', 'corpus.json');

export interface Scores {
  /** Gold PHI entities overlapped by any finding, overall and per gold type. */
  recall: Map<PhiType | 'ALL', { hit: number; total: number }>;
  /** Findings that overlap some gold PHI, overall and per found type. */
  precision: Map<PhiType | 'ALL', { hit: number; total: number }>;
}

const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }): boolean =>
  a.start < b.end && b.start < a.end;

/** Entity-level scores with overlap matching: what matters for privacy is that PHI is covered. */
export async function score(
  docs: CorpusDoc[],
  find: (text: string) => Finding[] | Promise<Finding[]>,
): Promise<Scores> {
  const recall: Scores['recall'] = new Map();
  const precision: Scores['precision'] = new Map();
  const bump = (
    m: Map<PhiType | 'ALL', { hit: number; total: number }>,
    k: PhiType | 'ALL',
    hit: boolean,
  ): void => {
    const v = m.get(k) ?? { hit: 0, total: 0 };
    v.total++;
    if (hit) v.hit++;
    m.set(k, v);
  };
  for (const doc of docs) {
    const found = await find(doc.text);
    for (const g of doc.phi) {
      const hit = found.some((f) => overlaps(f, g));
      bump(recall, g.type, hit);
      bump(recall, 'ALL', hit);
    }
    for (const f of found) {
      const hit = doc.phi.some((g) => overlaps(f, g));
      bump(precision, f.type, hit);
      bump(precision, 'ALL', hit);
    }
  }
  return { recall, precision };
}
