import type { DocumentReference, Observation, Patient, Reference, Resource } from '@medplum/fhirtypes';
import type { OcrEngine } from '../ocr';
import type { AccessContext, Clock } from '../shared';
import type { Repository } from '../storage';

/** Who the pipeline writes as: its own writes never trigger it again. */
export const PIPELINE_ACCESS: AccessContext = Object.freeze({
  kind: 'system',
  actor: 'pipeline',
  roles: ['system'],
});

export const PIPELINE_SYSTEM = 'urn:fhir-dicomweb-server:pipeline';

export interface SourceVersion {
  type: string;
  id: string;
  versionId: number;
}

/** A run of one report or document through every stage; its Task was made with the write. */
export interface DocumentRunJob {
  task: string;
  source: SourceVersion;
  /** What started the run when it was not a write of the source: a new version of its Binary. */
  because?: string;
}

/**
 * A run of every lab value (and report of results only) one transaction wrote for one patient:
 * only the critical-value check, and a Task only when it finds something.
 */
export interface LabRunJob {
  /** Derived from the source versions, so it names this run and no other. */
  run: string;
  patient?: string;
  sources: SourceVersion[];
}

export type RunJob = DocumentRunJob | LabRunJob;

/** Text a stage found, with where it came from (for derivedFrom and review). */
export interface ExtractedText {
  text: string;
  /** The text DocumentReference written for it. */
  document: Reference<DocumentReference>;
  /** The attachment it came from, e.g. "presentedForm[0]". */
  from: string;
  /** Mean OCR word confidence (0-100) when the text came from OCR. */
  ocrConfidence?: number;
  /** Its de-identified copy, when the pipeline de-identifies text; text stages read this. */
  deidentified?: { text: string; document: Reference<DocumentReference> };
}

/** One output a stage wants written; `key` makes its id stable per source. */
export interface StageOutput<T extends Resource = Resource> {
  key: string;
  resource: T;
  /** Sources for its Provenance beyond the run's source (e.g. the lab Observation a flag is about). */
  derivedFrom?: Reference[];
}

export interface StageContext {
  source: Resource;
  /** The source version, as a version-specific reference. */
  sourceRef: Reference;
  /** "Type/id" of the source: the part of an output key that makes it the source's own. */
  sourceKey: string;
  patient?: Reference<Patient>;
  /** The patient's age in years at the source time, when known (critical limits by age). */
  ageYears?: number;
  /** When the source version was written: outputs carry it instead of "now", so a rerun writes the same. */
  sourceTime: string;
  texts: ExtractedText[];
  /** Lab Observations known to the run: the source itself, referenced results, extracted values. */
  labs: { observation: Observation; ref: Reference<Observation> }[];
  /** What a person should look at: values not extracted and why (no identifiers). */
  review: string[];
  repo: Repository;
  ocr: OcrEngine;
  clock: Clock;
  /** Writes an output now (later stages need its id) and returns a reference to it. */
  write<T extends Resource>(stage: Stage, output: StageOutput<T>): Promise<Reference<T>>;
}

/** One step of the pipeline; versioned, so its outputs say what made them. */
export interface Stage {
  name: string;
  version: string;
  run(ctx: StageContext): Promise<void>;
}

/** Input that can never succeed (corrupt, empty, wrong type): the run fails at once, without retries. */
export class PipelineInputError extends Error {}
