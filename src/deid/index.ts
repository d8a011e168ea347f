import { TextDeidentifier } from './text/engine';
import { NameDetector } from './text/names';
import { PatternDetector } from './text/patterns';
import type { Detector } from './text/types';

export { TextDeidentifier } from './text/engine';
export type { TextEntity, TextResult } from './text/engine';
export type { Detector, Finding, PhiType } from './text/types';
export { PatternDetector } from './text/patterns';
export { OnnxTokenDetector } from './text/onnx-detector';
export { Pseudonymizer } from './pseudonym';
export type { DeidKey } from './pseudonym';
export { ConfidentialityTable } from './dicom/profile';
export { DeidProfiles } from './profile/registry';
export type { LibraryLoader } from './profile/registry';
export { parseDeidProfile, ProfileError } from './profile/profile';
export type { DeidProfile } from './profile/profile';
export { deidentifyDicom } from './dicom/engine';
export { cleanBurnedInText } from './dicom/pixels';
export type { DicomDeidDeps, DicomDeidResult } from './dicom/engine';
export { ChangeLog } from './change-log';
export type { ChangeLogEntry } from './change-log';

/**
 * The text engine: rules with checksums and context, name dictionaries, compromise, and any
 * models the configuration adds (OnnxTokenDetector).
 */
export function createTextDeidentifier(models: readonly Detector[] = []): TextDeidentifier {
  return new TextDeidentifier([new PatternDetector(), new NameDetector(), ...models]);
}
export { deidentifyResource } from './fhir/engine';
