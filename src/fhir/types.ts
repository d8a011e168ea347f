import type { Readable } from 'node:stream';
import type { CapabilityStatementRestSecurity, Resource } from '@medplum/fhirtypes';
import type { Config } from '../config';
import type { DeidProfiles, Pseudonymizer, TextDeidentifier } from '../deid';
import type { JobQueue } from '../jobs';
import type { SearchParamRegistry } from '../search';
import type { AccessContext, Clock } from '../shared';
import type { Repository } from '../storage';
import type { Validator } from './validation';

export type FhirMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A FHIR interaction independent of HTTP framework; batch entries are turned into these too. */
export interface FhirRequest {
  method: FhirMethod;
  /** Path below the FHIR base without leading slash, e.g. "Patient/1/_history/2". */
  path: string;
  query: [string, string][];
  headers: {
    ifMatch?: string;
    ifNoneMatch?: string;
    ifModifiedSince?: string;
    ifNoneExist?: string;
    prefer?: string;
    contentType?: string;
    /** True when the client asked for raw bytes rather than FHIR JSON (Binary reads). */
    wantsRaw?: boolean;
  };
  /** Parsed JSON body. */
  body?: unknown;
  /** Raw body for Binary writes with a non-FHIR content type. */
  rawBody?: Buffer;
  access: AccessContext;
  /** Filled by the router from the path. */
  params?: { type?: string; id?: string; vid?: string; operation?: string };
}

export interface FhirResponse {
  status: number;
  body?: Resource;
  binary?: { contentType: string; stream: Readable; size?: number };
  headers?: Record<string, string>;
}

export interface FhirDeps {
  repo: Repository;
  registry: SearchParamRegistry;
  validator: Validator;
  config: Config;
  clock: Clock;
  /** `${baseUrl}/fhir` */
  fhirBase: string;
  resourceTypes: ReadonlySet<string>;
  /** The free-text de-identification engine ($deidentify-text). */
  deid: TextDeidentifier;
  /** Shipped and stored (Library) de-identification profiles. */
  deidProfiles: DeidProfiles;
  /** Durable jobs (asynchronous requests); absent in tools that only read. */
  jobs?: JobQueue;
  /** Keyed pseudonyms for $deidentify (DEID_KEY, or the generated key). */
  pseudonyms: Pseudonymizer;
  /** SMART-on-FHIR endpoints for the CapabilityStatement (rest.security), at the request's address. */
  security?: CapabilityStatementRestSecurity;
}

export type FhirHandler = (req: FhirRequest, deps: FhirDeps) => Promise<FhirResponse>;
