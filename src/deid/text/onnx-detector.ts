import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { ModelManifest } from '../../ai';
import { ModelError, modelFile } from '../../ai';
import { featureIds, FEATURES, tokenize } from './token-features';
import type { Detector, Finding, PhiType } from './types';
import { PHI_TYPES } from './types';

const PHI_LABELS = new Set<string>(PHI_TYPES);
/** Input kinds this detector can feed; a model needing another tokenizer needs its own detector. */
const INPUT_KINDS = new Set(['hashed-token-features-v1']);

/**
 * A token-classification ONNX model from models/, run by onnxruntime-node on the CPU, behind
 * the same Detector interface as the rules. Tokens whose most likely label is a PHI type (with at
 * least the manifest's threshold) become findings; neighbouring tokens of one type, with at most
 * a space or two between them, are one finding.
 */
export class OnnxTokenDetector implements Detector {
  readonly name: string;
  readonly learnt = true;

  private constructor(
    private readonly session: InferenceSession,
    private readonly manifest: ModelManifest,
    private readonly buckets: number,
  ) {
    this.name = `onnx:${manifest.name}@${manifest.version}`;
  }

  static async load(manifest: ModelManifest): Promise<OnnxTokenDetector> {
    if (manifest.task !== 'token-classification')
      throw new ModelError(`${manifest.name}: task ${manifest.task} is not token-classification`);
    if (!INPUT_KINDS.has(manifest.input.kind))
      throw new ModelError(
        `${manifest.name}: input kind ${manifest.input.kind} is not one this server can feed`,
      );
    const unknown = manifest.labels.filter((l) => l !== 'O' && !PHI_LABELS.has(l));
    if (unknown.length > 0) throw new ModelError(`${manifest.name}: unknown labels ${unknown.join(', ')}`);
    const buckets = Number(manifest.input.buckets);
    if (!Number.isInteger(buckets) || buckets <= 0 || manifest.input.features !== FEATURES)
      throw new ModelError(`${manifest.name}: input needs buckets and features = ${FEATURES}`);
    const session = await InferenceSession.create(modelFile(manifest, 'model'), {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
    });
    return new OnnxTokenDetector(session, manifest, buckets);
  }

  async detect(text: string): Promise<Finding[]> {
    const tokens = tokenize(text);
    if (tokens.length === 0) return [];
    const ids = featureIds(tokens, this.buckets);
    const input = new Tensor(
      'int64',
      BigInt64Array.from(ids, (v) => BigInt(v)),
      [tokens.length, FEATURES],
    );
    const out = await this.session.run({ [this.manifest.input.name]: input });
    const probs = out[this.manifest.output.name]?.data as Float32Array | undefined;
    if (!probs) throw new ModelError(`${this.manifest.name}: no output ${this.manifest.output.name}`);
    const labels = this.manifest.labels;
    const threshold = this.manifest.threshold ?? 0.5;
    const findings: Finding[] = [];
    tokens.forEach((t, i) => {
      let best = 0;
      for (let l = 1; l < labels.length; l++)
        if ((probs[i * labels.length + l] ?? 0) > (probs[i * labels.length + best] ?? 0)) best = l;
      const label = labels[best] ?? 'O';
      if (label === 'O' || (probs[i * labels.length + best] ?? 0) < threshold) return;
      const last = findings[findings.length - 1];
      if (last?.type === label && /^\s{0,2}$/.test(text.slice(last.end, t.start))) last.end = t.end;
      else findings.push({ type: label as PhiType, start: t.start, end: t.end, source: this.name });
    });
    return findings;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
