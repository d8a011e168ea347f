import type { Binary, Resource } from '@medplum/fhirtypes';
import { preconditionFailed } from '../../shared';
import { findMatches, parseQueryString } from '../conditional';
import { versionHeaders } from '../http-semantics';
import { prepareForWrite, requireResourceBody, writeResponse } from '../prepare';
import type { FhirDeps, FhirRequest, FhirResponse } from '../types';
import { typeOf } from './params';

/** A Binary posted as raw bytes (any non-FHIR content type) becomes a Binary resource. */
export function bodyForWrite(req: FhirRequest, type: string): { resource: Resource; binary?: Buffer } {
  if (type === 'Binary' && req.rawBody) {
    const binary: Binary = {
      resourceType: 'Binary',
      contentType: req.headers.contentType ?? 'application/octet-stream',
    };
    return { resource: binary, binary: req.rawBody };
  }
  return { resource: requireResourceBody(req, type) };
}

export async function createInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const type = typeOf(req);
  const { resource, binary } = bodyForWrite(req, type);
  return deps.repo.transaction(async (repo) => {
    if (req.headers.ifNoneExist) {
      const matches = await findMatches(deps, repo, req, type, parseQueryString(req.headers.ifNoneExist));
      if (matches.length > 1) throw preconditionFailed(`If-None-Exist matched ${matches.length} resources`);
      const existing = matches[0];
      if (existing) {
        const response = writeResponse(req, deps, existing, 200, 'Resource already exists; not created');
        return { ...response, headers: { ...response.headers, ...versionHeaders(existing, deps.fhirBase) } };
      }
    }
    // A client-supplied id on create is ignored, as R4 requires.
    const { id: _ignored, ...rest } = resource;
    const prepared = await prepareForWrite(rest as Resource, deps, repo);
    const created = await repo.create(req.access, prepared, { binary });
    return writeResponse(req, deps, created, 201, `Created ${type}/${created.id ?? ''}`);
  });
}
