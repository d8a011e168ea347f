import fs from 'node:fs';
import path from 'node:path';
import { loadManifest } from '../src/ai';
import type { TextDeidentifier } from '../src/deid';
import {
  createTextDeidentifier,
  OnnxTokenDetector,
  PatternDetector,
  TextDeidentifier as Engine,
} from '../src/deid';
import type { CorpusDoc, Scores } from './deid-score';
import { CORPUS_FILE, loadHeldOut, score } from './deid-score';
import { timed } from './stats';
import { isHeldOut, MODEL_NAME } from './train-deid-model';

const ratio = (v: { hit: number; total: number } | undefined): number =>
  v && v.total ? v.hit / v.total : NaN;
const f1 = (p: number, r: number): number => (p + r ? (2 * p * r) / (p + r) : 0);

function report(name: string, s: Scores, seconds: number, docs: number): number {
  const types = [...s.recall.keys()].filter((k) => k !== 'ALL').sort();
  console.log(`  ${name}: ${(docs / seconds).toFixed(0)} documents/s`);
  console.log('    type           recall  precision  F1      (gold / found)');
  for (const t of [...types, 'ALL' as const]) {
    const r = ratio(s.recall.get(t));
    const p = ratio(s.precision.get(t));
    console.log(
      `    ${t.padEnd(13)} ${r.toFixed(3).padStart(6)}  ${Number.isNaN(p) ? '    -' : p.toFixed(3).padStart(9)}  ${f1(Number.isNaN(p) ? 0 : p, r).toFixed(3)}   (${s.recall.get(t)?.total ?? 0} / ${s.precision.get(t)?.total ?? 0})`,
    );
  }
  console.log(
    `    labels right  ${ratio(s.labels).toFixed(3).padStart(6)}   (of the ${s.labels.total} found)`,
  );
  const all = f1(ratio(s.precision.get('ALL')), ratio(s.recall.get('ALL')));
  return all;
}

/** `npm run bench -- deid`: the text engine against a rules-only baseline on the annotated corpus. */
export async function deidBench(): Promise<void> {
  const docs = JSON.parse(fs.readFileSync(CORPUS_FILE, 'utf8')) as CorpusDoc[];
  console.log(`deid: ${docs.length} documents, ${docs.reduce((n, d) => n + d.phi.length, 0)} PHI entities`);
  const engines: [string, TextDeidentifier][] = [
    ['full engine (rules, dictionaries, compromise, propagation)', createTextDeidentifier()],
    ['baseline (rules only)', new Engine([new PatternDetector()])],
  ];
  const f1s: number[] = [];
  const rates: number[] = [];
  for (const [name, engine] of engines) {
    const [s, ms] = await timed(() => score(docs, (t) => engine.findings(t)));
    f1s.push(report(name, s, ms / 1000, docs.length));
    rates.push(docs.length / (ms / 1000));
  }
  console.log(
    `  ratio full/baseline: F1 ${((f1s[0] ?? 0) / (f1s[1] ?? 1)).toFixed(2)}, throughput ${((rates[0] ?? 0) / (rates[1] ?? 1)).toFixed(2)}`,
  );

  // The model in models/ learnt from the other four fifths (bench/train-deid-model.ts): it is
  // scored only on the fifth it never saw, beside the rules on that same fifth.
  const heldOut = docs.filter((_, i) => isHeldOut(i));
  const model = await OnnxTokenDetector.load(
    await loadManifest(path.join(__dirname, '..', 'models'), MODEL_NAME),
  );
  console.log(`held-out fifth: ${heldOut.length} documents, model ${model.name}`);
  for (const [name, engine] of [
    ['full engine', createTextDeidentifier()],
    ['model alone', new Engine([model])],
    ['full engine + model', createTextDeidentifier([model])],
  ] as const) {
    const [s, ms] = await timed(() => score(heldOut, (t) => engine.findings(t)));
    report(name, s, ms / 1000, heldOut.length);
  }
  // Notes in styles neither the rules nor the corpus were written from: what the tuning is worth.
  const notes = loadHeldOut();
  console.log(
    `hand-written held-out notes: ${notes.length} documents, ${notes.reduce((n, d) => n + d.phi.length, 0)} PHI entities`,
  );
  for (const [name, engine] of [
    ['full engine', createTextDeidentifier()],
    ['full engine + model', createTextDeidentifier([model])],
  ] as const) {
    const [s, ms] = await timed(() => score(notes, (t) => engine.findings(t)));
    report(name, s, ms / 1000, notes.length);
  }
  await model.close();
}
