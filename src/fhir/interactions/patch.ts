import type { Resource } from '@medplum/fhirtypes';
import type { Operation } from 'fast-json-patch';
import { applyPatch, JsonPatchError, validate } from 'fast-json-patch';
import { badRequest, preconditionFailed, unprocessable, unsupportedMediaType } from '../../shared';
import type { Repository } from '../../storage';
import { findMatches } from '../conditional';
import { parseETag } from '../http-semantics';
import { prepareForWrite, writeResponse } from '../prepare';
import type { FhirDeps, FhirRequest, FhirResponse } from '../types';
import { idOf, typeOf } from './params';

function patchOperations(req: FhirRequest): Operation[] {
  if (!req.headers.contentType?.startsWith('application/json-patch+json')) {
    throw unsupportedMediaType('PATCH requires Content-Type application/json-patch+json');
  }
  if (!Array.isArray(req.body)) throw badRequest('A JSON Patch document must be an array of operations');
  const ops = req.body as Operation[];
  const error = validate(ops);
  if (error) throw badRequest(`Invalid JSON Patch: ${error.message.split('\n')[0] ?? ''}`);
  return ops;
}

async function patchOne(
  req: FhirRequest,
  deps: FhirDeps,
  repo: Repository,
  type: string,
  id: string,
): Promise<FhirResponse> {
  const ops = patchOperations(req);
  const current = await repo.read(req.access, type, id);
  if (req.headers.ifMatch && parseETag(req.headers.ifMatch) !== Number(current.meta?.versionId)) {
    throw preconditionFailed(
      `Version conflict: If-Match ${req.headers.ifMatch} but current is ${current.meta?.versionId ?? ''}`,
    );
  }
  let patched: Resource;
  try {
    patched = applyPatch(structuredClone(current), ops, true, false).newDocument;
  } catch (err) {
    if (err instanceof JsonPatchError) {
      if (err.name === 'TEST_OPERATION_FAILED') throw unprocessable('JSON Patch test operation failed');
      throw unprocessable(`JSON Patch could not be applied: ${err.name}`);
    }
    throw err;
  }
  if (patched.resourceType !== type || patched.id !== id)
    throw badRequest('A patch may not change resourceType or id');
  const prepared = await prepareForWrite(patched, deps, repo);
  const result = await repo.update(req.access, prepared, {
    ifMatch: Number(current.meta?.versionId),
    method: 'PATCH',
  });
  return writeResponse(req, deps, result.resource, 200, result.changed ? 'Patched' : 'No change');
}

export function patchInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  return deps.repo.transaction((repo) => patchOne(req, deps, repo, typeOf(req), idOf(req)));
}

export function conditionalPatchInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const type = typeOf(req);
  return deps.repo.transaction(async (repo) => {
    const matches = await findMatches(deps, repo, req, type, req.query);
    if (matches.length !== 1)
      throw preconditionFailed(`Conditional patch matched ${matches.length} resources`);
    return patchOne(req, deps, repo, type, matches[0]?.id ?? '');
  });
}
