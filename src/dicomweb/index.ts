export { resolveDicomWeb } from './router';
export type { DicomWebConfig, DicomWebDeps, DicomWebRequest, DicomWebResponse } from './types';

import { createStudyCommits } from './study-commits';
import type { DicomWebDeps } from './types';

/** Completes the DICOMweb dependencies with the per-server commit batcher. */
export function createDicomWebDeps(base: Omit<DicomWebDeps, 'commits'>): DicomWebDeps {
  return { ...base, commits: createStudyCommits(base) };
}
