import type { FhirHandler } from '../types';
import { deidentifyOperation } from './deidentify';
import { deidentifyTextOperation } from './deidentify-text';
import { documentOperation } from './document';
import { validateOperation } from './validate';

/** Where an operation is routed: on every type, on some, or at none of a level's URLs. */
type Types = 'all' | readonly string[];

export interface OperationSpec {
  handler: FhirHandler;
  /** Canonical URL of its OperationDefinition (R4's own where one exists). */
  definition: string;
  documentation: string;
  /** POST [base]/$name */
  system?: boolean;
  /** [base]/[type]/$name */
  type?: Types;
  /** [base]/[type]/[id]/$name */
  instance?: Types;
  /** Runs as a durable job under `Prefer: respond-async`, polled at [base]/_async/{id}. */
  async?: boolean;
}

export type OperationLevel = 'system' | 'type' | 'instance';

const OWN = 'urn:fhir-dicomweb-server:OperationDefinition';

/**
 * The one table of FHIR operations: the router dispatches from it, the CapabilityStatement lists
 * it, and the asynchronous pattern asks it, so an operation added here appears everywhere.
 */
export const OPERATIONS: Readonly<Record<string, OperationSpec>> = {
  validate: {
    handler: validateOperation,
    definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
    documentation: 'Validates against the R4 definitions and known profiles (`profile`, `mode=delete`).',
    type: 'all',
    instance: 'all',
  },
  deidentify: {
    handler: deidentifyOperation,
    definition: `${OWN}/deidentify`,
    documentation:
      'De-identified copy of an instance, of a Patient with every resource that references it, or of a ' +
      'posted Bundle (`profile`, `target`). Needs DEID_KEY.',
    system: true,
    type: 'all',
    instance: 'all',
    async: true,
  },
  'deidentify-text': {
    handler: deidentifyTextOperation,
    definition: `${OWN}/deidentify-text`,
    documentation: 'De-identifies free text (`text`, `profile`); POST only, so no text lands in a URL.',
    system: true,
  },
  document: {
    handler: documentOperation,
    definition: 'http://hl7.org/fhir/OperationDefinition/Composition-document',
    documentation: 'The FHIR document Bundle of a Composition.',
    instance: ['Composition'],
  },
};

const routesTo = (types: Types | undefined, type: string | undefined): boolean =>
  types === 'all' || (types !== undefined && type !== undefined && types.includes(type));

/** Whether `name` is routed at this level (and on this type, below the system level). */
export function isRouted(spec: OperationSpec, level: OperationLevel, type?: string): boolean {
  return level === 'system' ? spec.system === true : routesTo(spec[level], type);
}
