import { MedplumClient } from '@medplum/core';
// fhir-kit-client ships CommonJS without types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const FhirKitClient = require('fhir-kit-client') as new (opts: { baseUrl: string }) => any;

export function medplumClient(fhirBase: string): MedplumClient {
  const baseUrl = fhirBase.replace(/\/fhir$/, '/');
  return new MedplumClient({ baseUrl, fhirUrlPath: 'fhir', fetch: globalThis.fetch.bind(globalThis) });
}

export function fhirKitClient(fhirBase: string): any {
  return new FhirKitClient({ baseUrl: fhirBase });
}
