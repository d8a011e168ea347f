import fs from 'node:fs';
import path from 'node:path';
import type { Finding, PhiType } from '../src/deid';
import { PHI_TYPES } from '../src/deid/text/types';

export interface CorpusDoc {
  id: string;
  /** The synthetic corpus's styles; a held-out note's is its file name. */
  kind: string;
  text: string;
  phi: { type: PhiType; start: number; end: number }[];
}

/** Written by `npx tsx bench/deid-corpus.ts`; read by the deid bench and tests. */
export const CORPUS_FILE = path.join(__dirname, '..', 'test', 'deid', 'corpus', 'corpus.json');
/** Hand-written notes in other styles, PHI marked inline as {{TYPE|text}} (see its README.md). */
const HELD_OUT_DIR = path.join(__dirname, '..', 'test', 'deid', 'corpus', 'heldout');

/** One held-out note: the text without its marks, and the offsets of what they marked. */
function parseMarkedNote(id: string, marked: string): CorpusDoc {
  const phi: CorpusDoc['phi'] = [];
  let text = '';
  let at = 0;
  for (const m of marked.matchAll(/\{\{([A-Z]+)\|([^}]*)\}\}/g)) {
    const type = m[1] as PhiType;
    if (!(PHI_TYPES as readonly string[]).includes(type)) throw new Error(`${id}: unknown PHI type ${type}`);
    text += marked.slice(at, m.index);
    phi.push({ type, start: text.length, end: text.length + (m[2] ?? '').length });
    text += m[2] ?? '';
    at = (m.index ?? 0) + m[0].length;
  }
  return { id, kind: id.replace(/^\d+-|\.txt$/g, ''), text: text + marked.slice(at), phi };
}

export function loadHeldOut(): CorpusDoc[] {
  return fs
    .readdirSync(HELD_OUT_DIR)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((f) => parseMarkedNote(f, fs.readFileSync(path.join(HELD_OUT_DIR, f), 'utf8')));
}

export interface Scores {
  /** Gold PHI entities overlapped by any finding, overall and per gold type. */
  recall: Map<PhiType | 'ALL', { hit: number; total: number }>;
  /** Findings that overlap some gold PHI, overall and per found type. */
  precision: Map<PhiType | 'ALL', { hit: number; total: number }>;
  /** Of the gold entities found, those a finding of their own type overlaps: the tags are right. */
  labels: { hit: number; total: number };
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
  const labels = { hit: 0, total: 0 };
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
      if (!hit) continue;
      labels.total++;
      if (found.some((f) => overlaps(f, g) && f.type === g.type)) labels.hit++;
    }
    for (const f of found) {
      const hit = doc.phi.some((g) => overlaps(f, g));
      bump(precision, f.type, hit);
      bump(precision, 'ALL', hit);
    }
  }
  return { recall, precision, labels };
}
