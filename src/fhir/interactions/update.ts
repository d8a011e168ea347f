import type { Resource } from '@medplum/fhirtypes';
import { badRequest, preconditionFailed } from '../../shared';
import type { Repository } from '../../storage';
import { findMatches } from '../conditional';
import { assertValidId, parseETag } from '../http-semantics';
import { prepareForWrite, writeResponse } from '../prepare';
import type { FhirDeps, FhirRequest, FhirResponse } from '../types';
import { bodyForWrite } from './create';
import { idOf, typeOf } from './params';

/** Stores `resource` under `id` (update, or update-as-create with a client id). */
export async function putResource(
  req: FhirRequest,
  deps: FhirDeps,
  repo: Repository,
  resource: Resource,
  id: string,
  binary?: Buffer,
): Promise<FhirResponse> {
  assertValidId(id);
  const prepared = await prepareForWrite({ ...resource, id }, deps, repo);
  const ifMatch = req.headers.ifMatch ? parseETag(req.headers.ifMatch) : undefined;
  const ifNoneMatch = req.headers.ifNoneMatch?.trim();
  if (ifNoneMatch !== undefined && ifNoneMatch !== '*') throw badRequest('If-None-Match on update must be *');
  const result = await repo.update(req.access, prepared, {
    ifMatch,
    createOnly: ifNoneMatch === '*',
    binary,
  });
  const status = result.created ? 201 : 200;
  return writeResponse(
    req,
    deps,
    result.resource,
    status,
    result.created ? 'Created' : result.changed ? 'Updated' : 'No change',
  );
}

export async function updateInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const type = typeOf(req);
  const id = idOf(req);
  const { resource, binary } = bodyForWrite(req, type);
  if (!req.rawBody) {
    if (resource.id === undefined) throw badRequest('Resource id is required in the body of an update', 'id');
    if (resource.id !== id) throw badRequest(`Body id '${resource.id}' does not match URL id '${id}'`, 'id');
  }
  return deps.repo.transaction((repo) => putResource(req, deps, repo, resource, id, binary));
}

/** PUT [type]?criteria: 0 matches create, 1 match updates it, more is 412 (R4 §3.1.0.4.3). */
export async function conditionalUpdateInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const type = typeOf(req);
  const { resource, binary } = bodyForWrite(req, type);
  return deps.repo.transaction(async (repo) => {
    const matches = await findMatches(deps, repo, req, type, req.query);
    if (matches.length > 1)
      throw preconditionFailed(`Conditional update matched ${matches.length} resources`);
    const match = matches[0];
    if (match) {
      if (resource.id !== undefined && resource.id !== match.id) {
        throw badRequest(
          `Body id '${resource.id}' does not match the resource found (${match.id ?? ''})`,
          'id',
        );
      }
      return putResource(req, deps, repo, resource, match.id ?? '', binary);
    }
    const id = resource.id ?? crypto.randomUUID();
    return putResource(req, deps, repo, resource, id, binary);
  });
}
