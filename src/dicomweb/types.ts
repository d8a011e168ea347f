import type { Readable } from 'node:stream';
import type { SearchParamRegistry } from '../search';
import type { DeidProfiles, DicomDeidDeps } from '../deid';
import type { AccessContext, Clock, Logger } from '../shared';
import type { BlobStore, Repository } from '../storage';
import type { FrameCodecs } from './codecs';
import type { StoredInstance } from './store';

export interface DicomWebConfig {
  /** Largest accepted instance (bytes); bigger parts fail with 0xA700. */
  maxInstanceBytes: number;
  /** Instances up to this size are parsed from memory; larger ones from their stored file. */
  parseInMemoryBytes: number;
  maxFrames: number;
  maxFramePixels: number;
  /** Binary attributes up to this size are inlined in metadata; larger get a BulkDataURI. */
  inlineBinaryBytes: number;
  /** How long a study's commit waits for STOW-RS requests still being received (group commit). */
  commitWaitMs: number;
  /** Identifier system of Patient.identifier that PatientID (0010,0020) maps to. */
  patientIdSystem: string;
  /** DICOMweb roots of peers that import jobs may pull from, by name. */
  peers: Readonly<Record<string, string>>;
}

/** A DICOMweb request independent of the HTTP framework. */
export interface DicomWebRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  /** Path segments below /dicom-web, e.g. ["studies", "1.2.3", "metadata"]. */
  segments: string[];
  query: [string, string][];
  headers: { accept?: string; contentType?: string; prefer?: string };
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
  /**
   * Announces a request whose instances are still being received, so that commits it may join
   * wait for it: `study` once its study is known, `done` when it is submitted or given up.
   */
  announce(access: AccessContext): { study(studyUid: string): void; done(): void };
  submit(studyUid: string, access: AccessContext, instances: StoredInstance[]): Promise<void>;
}

/** A pull from a configured DICOMweb peer: the studies named, or those a QIDO-RS query finds. */
export interface ImportRequest {
  peer: string;
  studies?: string[];
  query?: Record<string, string>;
  access: AccessContext;
}

export interface ImportStudyResult {
  uid: string;
  stored: number;
  failed: number;
  error?: string;
}

export interface ImportJob {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  peer: string;
  studies: ImportStudyResult[];
  error?: string;
}

export interface ImportJobsApi {
  create(request: ImportRequest): Promise<string>;
  get(id: string): Promise<ImportJob | undefined>;
  /** Runs the job now and resolves when it ends. */
  run(id: string): Promise<void>;
  /** Runs the job in the background. */
  start(id: string): void;
  resume(): Promise<void>;
  stop(): Promise<void>;
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
  /** Table, pseudonyms and text engine for $deidentify. */
  deid: DicomDeidDeps & { profiles: DeidProfiles };
  commits: StudyCommits;
  codecs: FrameCodecs;
  imports: ImportJobsApi;
}

/** What the composition root provides; the rest of DicomWebDeps is built from it. */
export type DicomWebBase = Omit<DicomWebDeps, 'commits' | 'codecs' | 'imports'>;

export type DicomWebHandler = (req: DicomWebRequest, deps: DicomWebDeps) => Promise<DicomWebResponse>;
