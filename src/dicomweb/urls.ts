import type { ImagingStudyDeps } from './imaging-study';
import type { DicomWebBase, DicomWebDeps } from './types';

export function studyUrl(deps: DicomWebDeps, studyUid: string): string {
  return `${deps.base}/studies/${studyUid}`;
}

export function instanceUrl(deps: DicomWebDeps, study: string, series: string, sop: string): string {
  return `${deps.base}/studies/${study}/series/${series}/instances/${sop}`;
}

export function imagingDeps(deps: DicomWebBase): ImagingStudyDeps {
  return {
    registry: deps.registry,
    fhirBase: deps.fhirBase,
    dicomWebBase: deps.base,
    patientIdSystem: deps.config.patientIdSystem,
  };
}
