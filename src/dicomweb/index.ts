export { resolveDicomWeb } from './router';
export type { DicomWebConfig, DicomWebDeps, DicomWebRequest, DicomWebResponse } from './types';
