import type { Resource } from '@medplum/fhirtypes';
import { parseETag, versionHeaders } from '../http-semantics';
import { parseShaping, shapeResource } from '../shape';
import type { FhirDeps, FhirRequest, FhirResponse } from '../types';
import { idOf, typeOf } from './params';

/** Builds the response for a stored resource: raw bytes for Binary when asked, else shaped JSON. */
export async function resourceResponse(
  req: FhirRequest,
  deps: FhirDeps,
  resource: Resource,
): Promise<FhirResponse> {
  const headers = versionHeaders(resource, deps.fhirBase);
  if (resource.resourceType === 'Binary') {
    const binary = resource;
    if (req.headers.wantsRaw) {
      const content = await deps.repo.readBinaryContent(
        req.access,
        binary.id ?? '',
        Number(binary.meta?.versionId),
      );
      if (content) {
        return {
          status: 200,
          headers,
          binary: { contentType: binary.contentType, stream: content.stream, size: content.size },
        };
      }
    }
    return { status: 200, headers, body: await deps.repo.inflateBinary(req.access, binary) };
  }
  return { status: 200, headers, body: shapeResource(resource, parseShaping(req.query)) };
}

export async function readInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const resource = await deps.repo.read(req.access, typeOf(req), idOf(req));
  const version = resource.meta?.versionId;
  if (
    req.headers.ifNoneMatch &&
    version &&
    parseETag(req.headers.ifNoneMatch, 'If-None-Match') === Number(version)
  ) {
    return { status: 304, headers: versionHeaders(resource, deps.fhirBase) };
  }
  if (req.headers.ifModifiedSince && resource.meta?.lastUpdated) {
    const since = Date.parse(req.headers.ifModifiedSince);
    // HTTP dates have second precision; compare at that precision.
    if (
      !Number.isNaN(since) &&
      Math.floor(Date.parse(resource.meta.lastUpdated) / 1000) <= Math.floor(since / 1000)
    ) {
      return { status: 304, headers: versionHeaders(resource, deps.fhirBase) };
    }
  }
  return resourceResponse(req, deps, resource);
}

export async function vreadInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const resource = await deps.repo.vread(req.access, typeOf(req), idOf(req), req.params?.vid ?? '');
  return resourceResponse(req, deps, resource);
}
