/**
 * Trains models/deid-token-hashed: a softmax token classifier over hashed token features
 * (src/deid/text/token-features.ts), written as ONNX (Gather → ReduceSum → Add → Softmax) with
 * its manifest. It learns from the training split of the synthetic corpus only (documents whose
 * index is not a multiple of 5); `npm run bench -- deid` scores it on the held-out fifth.
 *
 *   npx tsx bench/train-deid-model.ts
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { onnx } from 'onnx-proto';
import type { PhiType } from '../src/deid';
import { PHI_TYPES } from '../src/deid/text/types';
import { featureIds, FEATURES, tokenize } from '../src/deid/text/token-features';
import type { CorpusDoc } from './deid-score';
import { CORPUS_FILE } from './deid-score';

export const MODEL_NAME = 'deid-token-hashed';
const BUCKETS = 1 << 15;
const EPOCHS = 6;
const LEARNING_RATE = 0.2;
const LABELS: ('O' | PhiType)[] = ['O', ...PHI_TYPES];

export const isHeldOut = (index: number): boolean => index % 5 === 0;

function labelled(doc: CorpusDoc): { ids: Int32Array; labels: number[] } {
  const tokens = tokenize(doc.text);
  const labels = tokens.map((t) => {
    const phi = doc.phi.find((p) => t.start < p.end && t.end > p.start);
    return phi ? LABELS.indexOf(phi.type) : 0;
  });
  return { ids: featureIds(tokens, BUCKETS), labels };
}

/** Deterministic shuffle (a fixed LCG), so the same corpus always trains the same model. */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function train(docs: CorpusDoc[]): { weights: Float32Array; bias: Float32Array } {
  const L = LABELS.length;
  const weights = new Float32Array(BUCKETS * L);
  const bias = new Float32Array(L);
  const examples = docs.map(labelled);
  const logits = new Float32Array(L);
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    const lr = LEARNING_RATE / (1 + epoch);
    let loss = 0;
    let n = 0;
    for (const { ids, labels } of shuffled(examples, 17 + epoch)) {
      for (let t = 0; t < labels.length; t++) {
        logits.set(bias);
        for (let k = 0; k < FEATURES; k++) {
          const row = (ids[t * FEATURES + k] ?? 0) * L;
          for (let l = 0; l < L; l++) logits[l] = (logits[l] ?? 0) + (weights[row + l] ?? 0);
        }
        let max = -Infinity;
        for (const v of logits) max = Math.max(max, v);
        let sum = 0;
        for (let l = 0; l < L; l++) {
          logits[l] = Math.exp((logits[l] ?? 0) - max);
          sum += logits[l] ?? 0;
        }
        const gold = labels[t] ?? 0;
        loss -= Math.log(Math.max(1e-9, (logits[gold] ?? 0) / sum));
        n++;
        for (let l = 0; l < L; l++) {
          const grad = (logits[l] ?? 0) / sum - (l === gold ? 1 : 0);
          if (Math.abs(grad) < 1e-4) continue;
          bias[l] = (bias[l] ?? 0) - lr * grad;
          for (let k = 0; k < FEATURES; k++) {
            const at = (ids[t * FEATURES + k] ?? 0) * L + l;
            weights[at] = (weights[at] ?? 0) - lr * grad;
          }
        }
      }
    }
    console.log(`  epoch ${epoch + 1}: mean loss ${(loss / n).toFixed(4)} over ${n} tokens`);
  }
  return { weights, bias };
}

function tensor(name: string, dims: number[], data: Float32Array | BigInt64Array): onnx.ITensorProto {
  return {
    name,
    dims,
    dataType:
      data instanceof Float32Array ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** feature_ids [tokens, FEATURES] (int64) → probs [tokens, labels]: an embedding bag and a softmax. */
function toOnnx(weights: Float32Array, bias: Float32Array): Uint8Array {
  const L = LABELS.length;
  const graph: onnx.IGraphProto = {
    name: MODEL_NAME,
    initializer: [
      tensor('weights', [BUCKETS, L], weights),
      tensor('bias', [L], bias),
      tensor('axes', [1], new BigInt64Array([1n])),
    ],
    input: [valueInfo('feature_ids', onnx.TensorProto.DataType.INT64, ['tokens', FEATURES])],
    output: [valueInfo('probs', onnx.TensorProto.DataType.FLOAT, ['tokens', L])],
    node: [
      {
        opType: 'Gather',
        input: ['weights', 'feature_ids'],
        output: ['per_feature'],
        attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
      },
      {
        opType: 'ReduceSum',
        input: ['per_feature', 'axes'],
        output: ['summed'],
        attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
      },
      { opType: 'Add', input: ['summed', 'bias'], output: ['logits'] },
      {
        opType: 'Softmax',
        input: ['logits'],
        output: ['probs'],
        attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 }],
      },
    ],
  };
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'fhir-dicomweb-server bench/train-deid-model.ts',
    graph,
  }).finish();
}

function main(): void {
  const docs = JSON.parse(fs.readFileSync(CORPUS_FILE, 'utf8')) as CorpusDoc[];
  const trainDocs = docs.filter((_, i) => !isHeldOut(i));
  console.log(`training ${MODEL_NAME} on ${trainDocs.length} of ${docs.length} documents`);
  const { weights, bias } = train(trainDocs);
  const dir = path.join(__dirname, '..', 'models', MODEL_NAME);
  fs.mkdirSync(dir, { recursive: true });
  const model = toOnnx(weights, bias);
  fs.writeFileSync(path.join(dir, 'model.onnx'), model);
  const manifest = {
    name: MODEL_NAME,
    version: '1.0.0',
    task: 'token-classification',
    runtime: 'onnxruntime-node',
    files: { model: { path: 'model.onnx', sha256: createHash('sha256').update(model).digest('hex') } },
    input: { kind: 'hashed-token-features-v1', name: 'feature_ids', buckets: BUCKETS, features: FEATURES },
    output: { name: 'probs' },
    labels: LABELS,
    threshold: 0.5,
    licence: 'Apache-2.0; trained here from the synthetic corpus in test/deid/corpus (no third-party data)',
    trainedOn: `test/deid/corpus/corpus.json, ${trainDocs.length} documents (index % 5 != 0)`,
  };
  fs.writeFileSync(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`wrote ${dir} (${(model.length / 1024 / 1024).toFixed(1)} MB)`);
}

if (require.main === module) main();
