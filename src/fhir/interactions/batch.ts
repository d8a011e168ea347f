import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { badRequest, FhirError, payloadTooLarge, preconditionFailed, toFhirError } from '../../shared';
import type { Repository } from '../../storage';
import { findMatches, parseQueryString } from '../conditional';
import { assertValidId } from '../http-semantics';
import { prepareForWrite, writeResponse } from '../prepare';
import type { FhirDeps, FhirHandler, FhirMethod, FhirRequest, FhirResponse } from '../types';

const METHODS = new Set<FhirMethod>(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** R4 §3.1.0.11.2: DELETE, then POST, then PUT/PATCH, then GET/HEAD. */
const ORDER: Record<FhirMethod, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  304: 'Not Modified',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error',
};

interface PlannedEntry {
  index: number;
  method: FhirMethod;
  path: string;
  query: [string, string][];
  entry: BundleEntry;
  /** For transaction POSTs: the id assigned up front, or the existing match of If-None-Exist. */
  assignedId?: string;
  existing?: Resource;
}

function planEntry(entry: BundleEntry, index: number): PlannedEntry {
  const method = entry.request?.method;
  const url = entry.request?.url;
  if (!method || !METHODS.has(method))
    throw badRequest('Entry request.method is missing or invalid', `Bundle.entry[${index}].request.method`);
  if (!url) throw badRequest('Entry request.url is required', `Bundle.entry[${index}].request.url`);
  const rel = url.replace(/^https?:\/\/[^/]+\/fhir\//, '').replace(/^\//, '');
  const [path, qs] = rel.split('?', 2) as [string, string | undefined];
  return { index, method, path, query: qs ? parseQueryString(qs) : [], entry };
}

function toEntryRequest(req: FhirRequest, p: PlannedEntry): FhirRequest {
  const r = p.entry.request;
  return {
    method: p.method,
    path: p.path,
    query: p.query,
    headers: {
      ifMatch: r?.ifMatch,
      ifNoneMatch: r?.ifNoneMatch,
      ifModifiedSince: r?.ifModifiedSince,
      ifNoneExist: r?.ifNoneExist,
      prefer: req.headers.prefer,
      contentType: p.method === 'PATCH' ? 'application/json-patch+json' : 'application/fhir+json',
    },
    body: p.method === 'PATCH' ? patchBody(p) : p.entry.resource,
    access: req.access,
  };
}

/** PATCH entries carry the JSON Patch as a Binary resource (R4 §3.1.0.11.1). */
function patchBody(p: PlannedEntry): unknown {
  const res = p.entry.resource as { resourceType?: string; data?: string } | undefined;
  if (res?.resourceType === 'Binary' && res.data)
    return JSON.parse(Buffer.from(res.data, 'base64').toString('utf8')) as unknown;
  return res;
}

function responseEntry(res: FhirResponse): BundleEntry {
  const h = res.headers ?? {};
  const entry: BundleEntry = {
    response: {
      status: `${res.status} ${STATUS_TEXT[res.status] ?? ''}`.trim(),
      location: h.Location,
      etag: h.ETag,
      lastModified: h['Last-Modified'] ? new Date(h['Last-Modified']).toISOString() : undefined,
    },
  };
  if (res.body?.resourceType === 'OperationOutcome' && res.status >= 300)
    entry.response = { ...entry.response, outcome: res.body } as typeof entry.response;
  else if (res.body) entry.resource = res.body;
  return entry;
}

function rewriteReferences(node: unknown, map: Map<string, string>): unknown {
  if (Array.isArray(node)) return node.map((n) => rewriteReferences(n, map));
  if (typeof node === 'string') return map.get(node) ?? node;
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) out[k] = rewriteReferences(v, map);
  return out;
}

function collectConditionalRefs(node: unknown, out: Set<string>): void {
  if (Array.isArray(node))
    node.forEach((n) => {
      collectConditionalRefs(n, out);
    });
  else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if (k === 'reference' && typeof v === 'string' && /^[A-Z][A-Za-z]+\?/.test(v)) out.add(v);
      else collectConditionalRefs(v, out);
    }
  }
}

function requireBundle(req: FhirRequest, deps: FhirDeps): Bundle {
  const b = req.body as Bundle | undefined;
  if (b?.resourceType !== 'Bundle') throw badRequest('Expected a Bundle', 'resourceType');
  if (b.type !== 'batch' && b.type !== 'transaction')
    throw badRequest("Bundle.type must be 'batch' or 'transaction'", 'Bundle.type');
  if ((b.entry?.length ?? 0) > deps.config.maxBundleEntries)
    throw payloadTooLarge(`Bundle has more than ${deps.config.maxBundleEntries} entries`);
  return b;
}

export function createBatchHandler(dispatch: FhirHandler): FhirHandler {
  async function runTransaction(req: FhirRequest, deps: FhirDeps, bundle: Bundle): Promise<FhirResponse> {
    const planned = (bundle.entry ?? []).map(planEntry);
    const responses = await deps.repo.transaction(async (repo: Repository) => {
      const txDeps: FhirDeps = { ...deps, repo };
      const map = new Map<string, string>();
      const seen = new Set<string>();
      for (const p of planned) {
        const fullUrl = p.entry.fullUrl;
        if (fullUrl) {
          if (seen.has(fullUrl))
            throw badRequest(`Duplicate fullUrl ${fullUrl}`, `Bundle.entry[${p.index}].fullUrl`);
          seen.add(fullUrl);
        }
        const type = p.path.split('/')[0] ?? '';
        if (p.method === 'POST') {
          if (p.entry.request?.ifNoneExist) {
            const matches = await findMatches(
              txDeps,
              repo,
              req,
              type,
              parseQueryString(p.entry.request.ifNoneExist),
            );
            if (matches.length > 1)
              throw preconditionFailed(`Entry ${p.index}: If-None-Exist matched ${matches.length} resources`);
            p.existing = matches[0];
          }
          p.assignedId = p.existing?.id ?? randomUUID();
          if (fullUrl) map.set(fullUrl, `${type}/${p.assignedId}`);
        } else if (p.method === 'PUT' && p.query.length > 0) {
          const matches = await findMatches(txDeps, repo, req, type, p.query);
          if (matches.length > 1)
            throw preconditionFailed(
              `Entry ${p.index}: conditional update matched ${matches.length} resources`,
            );
          const id = matches[0]?.id ?? (p.entry.resource?.id || randomUUID());
          p.path = `${type}/${id}`;
          p.query = [];
          if (fullUrl) map.set(fullUrl, p.path);
        } else if (p.method === 'PUT' && fullUrl?.startsWith('urn:')) {
          map.set(fullUrl, p.path);
        }
      }
      const conditional = new Set<string>();
      for (const p of planned) collectConditionalRefs(p.entry.resource, conditional);
      for (const ref of conditional) {
        const [type, qs = ''] = ref.split('?', 2) as [string, string | undefined];
        const matches = await findMatches(txDeps, repo, req, type, parseQueryString(qs));
        if (matches.length !== 1)
          throw preconditionFailed(`Conditional reference ${ref} matched ${matches.length} resources`);
        map.set(ref, `${type}/${matches[0]?.id ?? ''}`);
      }
      for (const p of planned) {
        if (p.entry.resource)
          p.entry = { ...p.entry, resource: rewriteReferences(p.entry.resource, map) as Resource };
        if (p.method === 'PUT' && p.entry.resource && p.entry.resource.id === undefined) {
          p.entry = { ...p.entry, resource: { ...p.entry.resource, id: p.path.split('/')[1] } };
        }
      }
      const out: FhirResponse[] = new Array<FhirResponse>(planned.length);
      let done = 0;
      for (const p of [...planned].sort((x, y) => ORDER[x.method] - ORDER[y.method] || x.index - y.index)) {
        // Embedded PGlite answers through microtasks only; without an occasional macrotask break a
        // large Bundle would starve health checks, metrics and signal handling until it finishes.
        if (++done % 50 === 0) await new Promise((r) => setImmediate(r));
        try {
          out[p.index] = await runEntry(req, txDeps, repo, p);
        } catch (err) {
          const e = toFhirError(err);
          throw new FhirError(e.status, {
            ...e.outcome,
            issue: (e.outcome.issue ?? []).map((i) => ({
              ...i,
              expression: [`Bundle.entry[${p.index}]`, ...(i.expression ?? [])],
            })),
          });
        }
      }
      return out;
    });
    return {
      status: 200,
      body: { resourceType: 'Bundle', type: 'transaction-response', entry: responses.map(responseEntry) },
    };
  }

  async function runEntry(
    req: FhirRequest,
    deps: FhirDeps,
    repo: Repository,
    p: PlannedEntry,
  ): Promise<FhirResponse> {
    const entryReq = toEntryRequest(req, p);
    if (p.method === 'POST' && p.assignedId && p.query.length === 0 && !p.path.includes('/')) {
      if (p.existing) return writeResponse(entryReq, deps, p.existing, 200, 'Already exists');
      const body = entryReq.body as Resource | undefined;
      if (body?.resourceType !== p.path)
        throw badRequest(`Entry resource must be a ${p.path}`, 'resourceType');
      assertValidId(p.assignedId);
      const { id: _ignored, ...rest } = body;
      const prepared = await prepareForWrite(rest as Resource, deps, repo);
      const created = await repo.create(req.access, prepared, {
        id: p.assignedId,
        idIsFresh: !p.existing,
      });
      return writeResponse(entryReq, deps, created, 201, 'Created');
    }
    const res = await dispatch(entryReq, deps);
    if (res.binary) throw badRequest('Binary content cannot be returned inside a Bundle');
    return res;
  }

  async function runBatch(req: FhirRequest, deps: FhirDeps, bundle: Bundle): Promise<FhirResponse> {
    const entries: BundleEntry[] = [];
    for (const [index, entry] of (bundle.entry ?? []).entries()) {
      try {
        const p = planEntry(entry, index);
        const res = await dispatch(toEntryRequest(req, p), deps);
        if (res.binary) throw badRequest('Binary content cannot be returned inside a Bundle');
        entries.push(responseEntry(res));
      } catch (err) {
        const e = toFhirError(err);
        entries.push(responseEntry({ status: e.status, body: e.outcome }));
      }
    }
    return { status: 200, body: { resourceType: 'Bundle', type: 'batch-response', entry: entries } };
  }

  return async (req, deps) => {
    const bundle = requireBundle(req, deps);
    return bundle.type === 'transaction' ? runTransaction(req, deps, bundle) : runBatch(req, deps, bundle);
  };
}
