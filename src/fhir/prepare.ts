import type { Resource } from '@medplum/fhirtypes';
import { badRequest, informational, notFound } from '../shared';
import type { Repository } from '../storage';
import { parsePrefer, locationHeader, versionHeaders } from './http-semantics';
import type { FhirDeps, FhirRequest, FhirResponse } from './types';

export function assertKnownType(type: string, deps: FhirDeps): void {
  if (!deps.resourceTypes.has(type)) throw notFound(`Unknown resource type '${type}'`);
}

/** The body of a create/update: a JSON object whose resourceType matches the URL. */
export function requireResourceBody(req: FhirRequest, type: string): Resource {
  const body = req.body;
  if (body === undefined)
    throw badRequest('The request has no body; send the resource as application/fhir+json');
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('Request body must be a FHIR resource (JSON object)');
  }
  const rt = (body as { resourceType?: unknown }).resourceType;
  if (typeof rt !== 'string') throw badRequest('Missing resourceType', 'resourceType');
  if (rt !== type)
    throw badRequest(`Resource type '${rt}' does not match URL type '${type}'`, 'resourceType');
  return body as Resource;
}

/** Strips server-managed meta and validates; throws a 400 OperationOutcome when invalid. */
export async function prepareForWrite<T extends Resource>(
  resource: T,
  deps: FhirDeps,
  repo: Repository,
): Promise<T> {
  const copy = { ...resource };
  if (copy.meta) {
    const { versionId: _v, lastUpdated: _l, ...meta } = copy.meta;
    copy.meta = Object.keys(meta).length ? meta : undefined;
    if (!copy.meta) delete copy.meta;
  }
  await deps.validator.assertValid(copy, repo);
  return copy;
}

/** Builds the response to a write according to Prefer: return=… */
export function writeResponse(
  req: FhirRequest,
  deps: FhirDeps,
  resource: Resource,
  status: number,
  message: string,
): FhirResponse {
  const headers: Record<string, string> = { ...versionHeaders(resource, deps.fhirBase) };
  if (status === 201) headers.Location = locationHeader(resource, deps.fhirBase);
  const prefer = parsePrefer(req.headers.prefer).return ?? 'representation';
  if (prefer === 'minimal') return { status, headers };
  if (prefer === 'OperationOutcome') return { status, headers, body: informational(message) };
  return { status, headers, body: resource };
}
