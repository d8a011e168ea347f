import type {
  CapabilityStatement,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceOperation,
} from '@medplum/fhirtypes';
import { COLUMN_PARAMS, isSearchable } from '../../search';
import type { OperationSpec } from '../operations';
import { OPERATIONS, isRouted } from '../operations';
import type { FhirDeps, FhirRequest, FhirResponse } from '../types';

const TYPE_INTERACTIONS = [
  'read',
  'vread',
  'update',
  'patch',
  'delete',
  'history-instance',
  'history-type',
  'create',
  'search-type',
] as const;

const ASYNC_NOTE =
  ' Also asynchronously: with `Prefer: respond-async` the answer is 202 and a status URL ' +
  '`[base]/_async/{id}` in Content-Location (GET polls, DELETE cancels).';

/** The operations routed on a type (type or instance level), or at system level without one. */
function operations(type?: string): CapabilityStatementRestResourceOperation[] {
  const routed = (spec: OperationSpec): boolean =>
    type === undefined
      ? isRouted(spec, 'system')
      : isRouted(spec, 'type', type) || isRouted(spec, 'instance', type);
  return Object.entries(OPERATIONS)
    .filter(([, spec]) => routed(spec))
    .map(([name, spec]) => ({
      name,
      definition: spec.definition,
      documentation: spec.documentation + (spec.async ? ASYNC_NOTE : ''),
    }));
}

/** Generated from what really exists: every stored type, its interactions and its indexed search parameters. */
export function buildCapabilityStatement(deps: FhirDeps): CapabilityStatement {
  const resources: CapabilityStatementRestResource[] = [...deps.resourceTypes].map((type) => ({
    type: type as CapabilityStatementRestResource['type'],
    profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    interaction: TYPE_INTERACTIONS.map((code) => ({ code })),
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: true,
    conditionalCreate: true,
    conditionalRead: 'modified-since',
    conditionalUpdate: true,
    conditionalDelete: 'single',
    referencePolicy: ['literal', 'local', 'enforced'],
    searchParam: [...deps.registry.forType(type).values()]
      .filter((d) => COLUMN_PARAMS.has(d.code) || isSearchable(d.type))
      .map((d) => ({ name: d.code, definition: d.url, type: d.type })),
    operation: operations(type),
  }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: deps.clock.now().toISOString(),
    kind: 'instance',
    software: { name: 'fhir-dicomweb-server', version: process.env.npm_package_version ?? '1.0.0' },
    implementation: { description: 'FHIR R4 + DICOMweb interoperability server', url: deps.fhirBase },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json'],
    rest: [
      {
        mode: 'server',
        ...(deps.security && { security: deps.security }),
        resource: resources,
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }],
        operation: operations(),
        searchParam: [
          { name: '_count', type: 'number' },
          { name: '_sort', type: 'string' },
          { name: '_total', type: 'token' },
          { name: '_summary', type: 'token' },
          { name: '_elements', type: 'string' },
        ],
      },
    ],
  };
}

export function capabilitiesInteraction(_req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  return Promise.resolve({ status: 200, body: buildCapabilityStatement(deps) });
}
