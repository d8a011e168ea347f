import { TextDeidentifier } from './text/engine';
import { NameDetector } from './text/names';
import { PatternDetector } from './text/patterns';

export { TextDeidentifier } from './text/engine';
export type { TextEntity, TextResult } from './text/engine';
export type { Detector, Finding, PhiType } from './text/types';
export { PatternDetector } from './text/patterns';
export { Pseudonymizer } from './pseudonym';
export type { DeidKey } from './pseudonym';
export { ConfidentialityTable, DICOM_PROFILES } from './dicom/profile';
export type { DicomDeidProfile } from './dicom/profile';
export { deidentifyDicom } from './dicom/engine';
export type { DicomDeidDeps, DicomDeidResult } from './dicom/engine';
export { ChangeLog } from './change-log';
export type { ChangeLogEntry } from './change-log';

/** Profiles the text engine knows; FHIR and DICOM rules come with their own engines. */
export const TEXT_PROFILES = ['basic'] as const;

/** The default text engine: rules with checksums and context, name dictionaries, compromise. */
export function createTextDeidentifier(): TextDeidentifier {
  return new TextDeidentifier([new PatternDetector(), new NameDetector()]);
}
export { deidentifyResource, FHIR_PROFILES } from './fhir/engine';
export type { FhirDeidProfile, FhirRule } from './fhir/engine';
