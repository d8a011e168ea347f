import { informational, preconditionFailed } from '../../shared';
import { findMatches } from '../conditional';
import { parseETag } from '../http-semantics';
import type { FhirDeps, FhirRequest, FhirResponse } from '../types';
import { idOf, typeOf } from './params';

export async function deleteInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const ifMatch = req.headers.ifMatch ? parseETag(req.headers.ifMatch) : undefined;
  const result = await deps.repo.delete(req.access, typeOf(req), idOf(req), { ifMatch });
  const headers: Record<string, string> = result.versionId ? { ETag: `W/"${result.versionId}"` } : {};
  return { status: 200, headers, body: informational(result.existed ? 'Deleted' : 'Nothing to delete') };
}

/** DELETE [type]?criteria: one match is deleted; several is 412 (single-match semantics). */
export async function conditionalDeleteInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const type = typeOf(req);
  return deps.repo.transaction(async (repo) => {
    const matches = await findMatches(deps, repo, req, type, req.query);
    if (matches.length > 1)
      throw preconditionFailed(`Conditional delete matched ${matches.length} resources`);
    const match = matches[0];
    if (!match) return { status: 200, body: informational('No resource matched; nothing deleted') };
    const result = await repo.delete(req.access, type, match.id ?? '');
    const headers: Record<string, string> = result.versionId ? { ETag: `W/"${result.versionId}"` } : {};
    return { status: 200, headers, body: informational('Deleted') };
  });
}
