import type { Bundle, BundleEntry, BundleLink, Resource } from '@medplum/fhirtypes';
import { badRequest } from '../../shared';
import type { HistoryEntry } from '../../storage';
import type { FhirDeps, FhirRequest, FhirResponse } from '../types';

function entryOf(e: HistoryEntry, fhirBase: string): BundleEntry {
  const url = `${e.resourceType}/${e.id}`;
  const entry: BundleEntry = {
    fullUrl: `${fhirBase}/${url}`,
    request: { method: e.method, url: e.method === 'POST' ? e.resourceType : url },
    response: {
      status: e.deleted ? '204 No Content' : e.method === 'POST' ? '201 Created' : '200 OK',
      etag: `W/"${e.versionId}"`,
      lastModified: e.lastUpdated.toISOString(),
    },
  };
  if (!e.deleted && e.content) entry.resource = JSON.parse(e.content) as Resource;
  return entry;
}

/** History at system, type or instance level, newest first, keyset-paged. */
export async function historyInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const type = req.params?.type;
  const id = req.params?.id;
  let since: Date | undefined;
  let count = deps.config.defaultPageSize;
  let beforeSeq: number | undefined;
  for (const [k, v] of req.query) {
    if (k === '_since') {
      const t = Date.parse(v);
      if (Number.isNaN(t)) throw badRequest(`Invalid _since '${v}'`, '_since');
      since = new Date(t);
    } else if (k === '_count') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw badRequest(`Invalid _count '${v}'`, '_count');
      count = Math.min(n, deps.config.maxPageSize);
    } else if (k === '_before_seq') {
      beforeSeq = Number(v);
      if (!Number.isInteger(beforeSeq)) throw badRequest('Invalid paging cursor', '_before_seq');
    }
  }
  if (id && type)
    await deps.repo.read(req.access, type, id).catch((err: unknown) => {
      // History of a deleted resource is still available; only a never-seen id is 404.
      if ((err as { status?: number }).status !== 410) throw err;
    });
  const page = await deps.repo.history(req.access, { resourceType: type, id, since, count, beforeSeq });
  const path = [type, id, '_history'].filter(Boolean).join('/');
  const keep = req.query.filter(([k]) => k !== '_before_seq');
  const url = (extra: [string, string][]): string => {
    const qs = new URLSearchParams([...keep, ...extra]).toString();
    return `${deps.fhirBase}/${path}${qs ? `?${qs}` : ''}`;
  };
  const link: BundleLink[] = [
    { relation: 'self', url: url(beforeSeq !== undefined ? [['_before_seq', String(beforeSeq)]] : []) },
  ];
  if (page.nextBeforeSeq !== undefined)
    link.push({ relation: 'next', url: url([['_before_seq', String(page.nextBeforeSeq)]]) });
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'history',
    total: page.total,
    link,
    entry: page.entries.map((e) => entryOf(e, deps.fhirBase)),
  };
  return { status: 200, body: bundle };
}
