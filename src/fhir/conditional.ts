import type { Resource } from '@medplum/fhirtypes';
import { executeSearch, parseSearch } from '../search';
import { badRequest } from '../shared';
import type { Repository } from '../storage';
import type { FhirDeps, FhirRequest } from './types';

export function parseQueryString(qs: string): [string, string][] {
  return [...new URLSearchParams(qs).entries()];
}

/**
 * Resolves a conditional URL's criteria (If-None-Exist, conditional update/delete, conditional
 * references in transactions). Unknown parameters are an error here, whatever the Prefer header:
 * silently ignoring one would widen the match and touch the wrong resource.
 */
export async function findMatches(
  deps: FhirDeps,
  repo: Repository,
  req: Pick<FhirRequest, 'access'>,
  resourceType: string,
  query: [string, string][],
): Promise<Resource[]> {
  if (query.length === 0) throw badRequest(`Conditional criteria for ${resourceType} are empty`);
  repo.assertRead(req.access, resourceType);
  const parsed = parseSearch(resourceType, query, deps.registry, {
    strict: true,
    defaultCount: 2,
    maxCount: 2,
  });
  const page = await executeSearch(await repo.reader(), parsed, {
    fhirBase: deps.fhirBase,
    now: deps.clock.now(),
  });
  return page.contents.map((c) => JSON.parse(c) as Resource);
}
