import { FrameCodecs } from './codecs';
import { ImportJobs } from './import';
import { createStudyCommits } from './study-commits';
import type { DicomWebBase, DicomWebDeps } from './types';

export { resolveDicomWeb } from './router';
export type { DicomWebConfig, DicomWebDeps, DicomWebRequest, DicomWebResponse } from './types';

/** Completes the DICOMweb dependencies with the per-server commit batcher, codecs and import jobs. */
export function createDicomWebDeps(base: DicomWebBase): DicomWebDeps {
  const deps: DicomWebDeps = {
    ...base,
    codecs: new FrameCodecs(),
    commits: createStudyCommits(base),
    imports: new ImportJobs(() => deps),
  };
  return deps;
}
