export { resolveDicomWeb } from './router';
export type { DicomWebConfig, DicomWebDeps, DicomWebRequest, DicomWebResponse } from './types';

import { FrameCodecs } from './codecs';
import { createStudyCommits } from './study-commits';
import type { DicomWebDeps } from './types';

/** Completes the DICOMweb dependencies with the per-server commit batcher and codecs. */
export function createDicomWebDeps(base: Omit<DicomWebDeps, 'commits' | 'codecs'>): DicomWebDeps {
  const codecs = new FrameCodecs();
  return { ...base, codecs, commits: createStudyCommits({ ...base, codecs }) };
}
