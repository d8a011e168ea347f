import type { Resource } from '@medplum/fhirtypes';
import { badRequest } from '../shared';

export interface Prefer {
  return?: 'minimal' | 'representation' | 'OperationOutcome';
  handling?: 'strict' | 'lenient';
  respondAsync: boolean;
}

export function parsePrefer(header: string | undefined): Prefer {
  const out: Prefer = { respondAsync: false };
  for (const part of (header ?? '').split(/[,;]/)) {
    const [k, v] = part
      .trim()
      .split('=')
      .map((s) => s.trim().replace(/^"|"$/g, ''));
    if (k === 'return' && (v === 'minimal' || v === 'representation' || v === 'OperationOutcome'))
      out.return = v;
    if (k === 'handling' && (v === 'strict' || v === 'lenient')) out.handling = v;
    if (k === 'respond-async') out.respondAsync = true;
  }
  return out;
}

/** `W/"3"` or `"3"` or `3` → 3. */
export function parseETag(header: string, name = 'If-Match'): number {
  const m = /^(?:W\/)?"?([0-9]+)"?$/.exec(header.trim());
  if (!m?.[1]) throw badRequest(`Invalid ${name} header; expected W/"<versionId>"`);
  return Number(m[1]);
}

export function versionHeaders(resource: Resource, fhirBase: string): Record<string, string> {
  const h: Record<string, string> = {};
  if (resource.meta?.versionId) {
    h.ETag = `W/"${resource.meta.versionId}"`;
    h['Content-Location'] =
      `${fhirBase}/${resource.resourceType}/${resource.id ?? ''}/_history/${resource.meta.versionId}`;
  }
  if (resource.meta?.lastUpdated) h['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  return h;
}

export function locationHeader(resource: Resource, fhirBase: string): string {
  return `${fhirBase}/${resource.resourceType}/${resource.id ?? ''}/_history/${resource.meta?.versionId ?? '1'}`;
}

export const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

export function assertValidId(id: string): void {
  if (!ID_RE.test(id)) throw badRequest(`Invalid resource id '${id}'`, 'id');
}
