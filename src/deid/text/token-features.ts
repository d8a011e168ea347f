/**
 * Token features for the hashed-feature token classifiers in models/ (kind
 * `hashed-token-features-v1`). Training (bench/train-deid-model.ts) and inference share this
 * file, so a model always sees features made the way it learnt them.
 */

export interface Token {
  start: number;
  end: number;
  text: string;
}

/** Features per token; the model's input is [tokens, FEATURES] hashed ids. */
export const FEATURES = 13;

const TOKEN = /[A-Za-z]+|\d+|[^\sA-Za-z\d]/g;

export function tokenize(text: string): Token[] {
  return [...text.matchAll(TOKEN)].map((m) => ({
    start: m.index ?? 0,
    end: (m.index ?? 0) + m[0].length,
    text: m[0],
  }));
}

/** Word shape with runs collapsed: "McBride" → "XxXx", "555" → "d", "(" → "(". */
function shape(word: string): string {
  return word
    .replace(/[A-Z]/g, 'X')
    .replace(/[a-z]/g, 'x')
    .replace(/\d/g, 'd')
    .replace(/(.)\1+/g, '$1');
}

/** FNV-1a, 32 bit: a stable hash that needs no table, so unseen words still get an id. */
function hash(s: string, buckets: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % buckets;
}

/** The FEATURES hashed feature ids of every token, row by row. */
export function featureIds(tokens: readonly Token[], buckets: number): Int32Array {
  const ids = new Int32Array(tokens.length * FEATURES);
  const low = (i: number): string => tokens[i]?.text.toLowerCase() ?? (i < 0 ? '<s>' : '</s>');
  const shp = (i: number): string => {
    const t = tokens[i]?.text;
    return t === undefined ? (i < 0 ? '<s>' : '</s>') : shape(t);
  };
  tokens.forEach((t, i) => {
    const w = t.text.toLowerCase();
    const features = [
      'bias',
      `w=${w}`,
      `s=${shp(i)}`,
      `p3=${w.slice(0, 3)}`,
      `s3=${w.slice(-3)}`,
      `len=${Math.min(t.text.length, 10)}`,
      `w-1=${low(i - 1)}`,
      `w+1=${low(i + 1)}`,
      `w-2=${low(i - 2)}`,
      `w+2=${low(i + 2)}`,
      `s-1=${shp(i - 1)}`,
      `s+1=${shp(i + 1)}`,
      `w-1|s=${low(i - 1)}|${shp(i)}`,
    ];
    features.forEach((f, k) => {
      ids[i * FEATURES + k] = hash(f, buckets);
    });
  });
  return ids;
}
