import type { Bundle, BundleEntry, BundleLink, Resource } from '@medplum/fhirtypes';
import type { Cursor } from '../../search';
import { countMatches, encodeCursor, executeSearch, parseSearch } from '../../search';
import { buildOutcome } from '../../shared';
import { parsePrefer } from '../http-semantics';
import { parseShaping, shapeResource } from '../shape';
import type { FhirDeps, FhirRequest, FhirResponse } from '../types';
import { typeOf } from './params';

/** GET [type]?… and POST [type]/_search (form body already merged into req.query). */
export async function searchInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const type = typeOf(req);
  deps.repo.assertRead(req.access, type);
  const strict = parsePrefer(req.headers.prefer).handling === 'strict';
  const query = parseSearch(type, req.query, deps.registry, {
    strict,
    defaultCount: deps.config.defaultPageSize,
    maxCount: deps.config.maxPageSize,
  });
  const ctx = { fhirBase: deps.fhirBase, now: deps.clock.now() };
  const shaping = parseShaping(req.query);

  // Links repeat only the parameters actually used, so ignored ones are visibly dropped.
  const ignoredKeys = new Set(query.ignored.map((i) => i.key));
  const kept = req.query.filter(([k]) => k !== '_cursor' && !ignoredKeys.has(k));
  const linkTo = (cursor?: Cursor): string => {
    const qs = new URLSearchParams([
      ...kept,
      ...(cursor ? [['_cursor', encodeCursor(cursor)] as [string, string]] : []),
    ]);
    const s = qs.toString();
    return `${deps.fhirBase}/${type}${s ? `?${s}` : ''}`;
  };

  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    link: [{ relation: 'self', url: linkTo(query.cursor) }],
  };
  const entries: BundleEntry[] = [];
  if (query.summaryCount) {
    bundle.total = await countMatches(await deps.repo.reader(), query, ctx);
  } else {
    const page = await executeSearch(await deps.repo.reader(), query, ctx);
    for (const content of page.contents) {
      const resource = JSON.parse(content) as Resource;
      entries.push({
        fullUrl: `${deps.fhirBase}/${type}/${resource.id ?? ''}`,
        resource: shapeResource(resource, shaping),
        search: { mode: 'match' },
      });
    }
    const links = bundle.link as BundleLink[];
    if (page.next) links.push({ relation: 'next', url: linkTo(page.next) });
    if (page.prev) links.push({ relation: 'previous', url: linkTo(page.prev) });
    if (query.total === 'accurate' || query.total === 'estimate') {
      bundle.total = await countMatches(await deps.repo.reader(), query, ctx);
    } else if (query.total !== 'none' && !query.cursor && !page.next) {
      bundle.total = entries.length;
    }
  }
  if (query.ignored.length > 0) {
    entries.push({
      resource: buildOutcome(
        query.ignored.map((i) => ({
          code: 'not-supported',
          severity: 'warning',
          message: i.message,
          expression: i.key,
        })),
      ),
      search: { mode: 'outcome' },
    });
  }
  if (entries.length > 0) bundle.entry = entries;
  return { status: 200, body: bundle };
}
