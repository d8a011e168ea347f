export { createFhirDispatcher } from './router';
export { resolveRoute } from './routes';
export type { Interaction, Route } from './routes';
export { createIntegrityHook } from './integrity';
export { Validator, ProfileRegistry } from './validation';
export { buildCapabilityStatement } from './interactions/capabilities';
export type { FhirRequest, FhirResponse, FhirDeps, FhirHandler, FhirMethod } from './types';
export { createLibraryLoader } from './library-loader';
export { createAsyncWorker, FHIR_ASYNC_QUEUE } from './async';
