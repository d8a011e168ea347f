import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * What models/<name>/manifest.json says about a model: enough to load it from that directory
 * (never from a network), check its files are the ones described, and know what it answers.
 */
export interface ModelManifest {
  name: string;
  version: string;
  /** e.g. token-classification, image-classification. */
  task: string;
  runtime: 'onnxruntime-node';
  files: Record<string, { path: string; sha256: string }>;
  input: { kind: string; name: string } & Record<string, unknown>;
  output: { name: string };
  labels: string[];
  licence: string;
  threshold?: number;
  trainedOn?: string;
  /** The directory it was loaded from. */
  dir: string;
}

export class ModelError extends Error {}

/**
 * Reads and checks a model's manifest: required fields, files inside the model directory with
 * the sha256 the manifest gives (a swapped or truncated file is refused, not run).
 */
export async function loadManifest(modelsDir: string, name: string): Promise<ModelManifest> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new ModelError(`Model name '${name}' is not a plain name`);
  const dir = path.join(modelsDir, name);
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8'));
  } catch (err) {
    throw new ModelError(`${name}: no readable manifest.json in ${dir} (${(err as Error).message})`);
  }
  const m = raw as Partial<ModelManifest>;
  for (const field of ['name', 'version', 'task', 'runtime', 'licence'] as const)
    if (typeof m[field] !== 'string' || m[field] === '')
      throw new ModelError(`${name}: manifest needs ${field}`);
  if (m.runtime !== 'onnxruntime-node') throw new ModelError(`${name}: runtime must be onnxruntime-node`);
  if (!Array.isArray(m.labels) || m.labels.length === 0 || !m.labels.every((l) => typeof l === 'string'))
    throw new ModelError(`${name}: manifest needs labels`);
  if (
    typeof m.input?.kind !== 'string' ||
    typeof m.input.name !== 'string' ||
    typeof m.output?.name !== 'string'
  )
    throw new ModelError(`${name}: manifest needs input.kind, input.name and output.name`);
  if (!m.files || typeof m.files !== 'object') throw new ModelError(`${name}: manifest needs files`);
  for (const [key, file] of Object.entries(m.files)) {
    const at = path.resolve(dir, file.path);
    if (!at.startsWith(`${path.resolve(dir)}${path.sep}`))
      throw new ModelError(`${name}: file ${key} is outside the model directory`);
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(at);
    } catch {
      throw new ModelError(`${name}: file ${key} (${file.path}) is missing`);
    }
    if (createHash('sha256').update(bytes).digest('hex') !== file.sha256)
      throw new ModelError(`${name}: file ${key} (${file.path}) does not match its sha256`);
  }
  return { ...(m as ModelManifest), dir };
}

export function modelFile(manifest: ModelManifest, key: string): string {
  const file = manifest.files[key];
  if (!file) throw new ModelError(`${manifest.name}: manifest has no file '${key}'`);
  return path.resolve(manifest.dir, file.path);
}
