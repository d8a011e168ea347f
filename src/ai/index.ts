export { loadManifest, modelFile, ModelError } from './manifest';
export type { ModelManifest } from './manifest';
