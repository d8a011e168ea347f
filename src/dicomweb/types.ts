import type { Readable } from 'node:stream';
import type { SearchParamRegistry } from '../search';
import type { AccessContext, Clock, Logger } from '../shared';
import type { BlobStore, Repository } from '../storage';
import type { FrameCodecs } from './codecs';
import type { StoredInstance } from './store';

export interface DicomWebConfig {
  /** Largest accepted instance (bytes); bigger parts fail with 0xA700. */
  maxInstanceBytes: number;
  maxFrames: number;
  maxFramePixels: number;
  /** Binary attributes up to this size are inlined in metadata; larger get a BulkDataURI. */
  inlineBinaryBytes: number;
  /** Identifier system of Patient.identifier that PatientID (0010,0020) maps to. */
  patientIdSystem: string;
}

/** A DICOMweb request independent of the HTTP framework. */
export interface DicomWebRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  /** Path segments below /dicom-web, e.g. ["studies", "1.2.3", "metadata"]. */
  segments: string[];
  query: [string, string][];
  headers: { accept?: string; contentType?: string };
  body?: Readable;
  access: AccessContext;
}

export interface DicomWebResponse {
  status: number;
  contentType?: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable | string;
}

/** Commits stored instances per study; concurrent STOW requests for one study share a transaction. */
export interface StudyCommits {
  submit(studyUid: string, access: AccessContext, instances: StoredInstance[]): Promise<void>;
}

export interface DicomWebDeps {
  repo: Repository;
  blobs: BlobStore;
  registry: SearchParamRegistry;
  clock: Clock;
  logger: Logger;
  config: DicomWebConfig;
  fhirBase: string;
  /** `${baseUrl}/dicom-web` */
  base: string;
  commits: StudyCommits;
  codecs: FrameCodecs;
}

export type DicomWebHandler = (req: DicomWebRequest, deps: DicomWebDeps) => Promise<DicomWebResponse>;
