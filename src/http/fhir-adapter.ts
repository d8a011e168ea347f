import type { Middleware } from 'koa';
import type { Auth } from '../auth';
import type { FhirDeps, FhirHandler, FhirMethod, FhirRequest } from '../fhir';
import { resolveRoute } from '../fhir';
import type { AccessContext } from '../shared';
import { methodNotAllowed, SYSTEM_ACCESS } from '../shared';
import type { BodyLimits } from './body';
import { parseJsonBody, readBody } from './body';
import type { Metrics } from './metrics';
import { requestBodyKind, responseFormat } from './negotiate';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

function accessFor(access: AccessContext | undefined, interaction: string): AccessContext {
  if (access) return access;
  if (interaction === 'capabilities') return SYSTEM_ACCESS;
  throw new Error('FHIR request without an access context');
}

/** The only place that knows both Koa and FHIR: HTTP in, FhirRequest to the dispatcher, FhirResponse out. */
export function fhirAdapter(
  dispatch: FhirHandler,
  deps: FhirDeps,
  limits: BodyLimits,
  metrics: Metrics,
  auth: Auth,
): Middleware {
  return async (ctx) => {
    const started = process.hrtime.bigint();
    const method = ctx.method.toUpperCase();
    const path = ctx.path.replace(/^\/fhir\/?/, '');
    const route = METHODS.has(method) ? resolveRoute(method as FhirMethod, path) : 'method';
    const interaction = typeof route === 'object' ? route.interaction : 'unknown';
    ctx.state.interaction = interaction;
    try {
      if (!METHODS.has(method)) throw methodNotAllowed(`${method} is not supported`);
      const query: [string, string][] = [...new URLSearchParams(ctx.querystring).entries()];
      const type = typeof route === 'object' ? route.params.type : undefined;
      const binaryType = type === 'Binary';
      const format = query.find(([k]) => k === '_format')?.[1];
      const out = responseFormat(
        format,
        ctx.get('Accept') || undefined,
        binaryType && (interaction === 'read' || interaction === 'vread'),
      );

      const req: FhirRequest = {
        method: method as FhirMethod,
        path,
        query,
        headers: {
          ifMatch: header(ctx.headers['if-match']),
          ifNoneMatch: header(ctx.headers['if-none-match']),
          ifModifiedSince: header(ctx.headers['if-modified-since']),
          ifNoneExist: header(ctx.headers['if-none-exist']),
          prefer: header(ctx.headers.prefer),
          contentType: ctx.get('Content-Type') || undefined,
          wantsRaw: out === 'raw',
        },
        // Set by the access middleware; only the public CapabilityStatement is read without one.
        access: accessFor(ctx.state.access as AccessContext | undefined, interaction),
      };
      const hasBody =
        ['POST', 'PUT', 'PATCH'].includes(method) &&
        (ctx.request.length > 0 || Boolean(ctx.get('Transfer-Encoding')));
      const kind = requestBodyKind(req.headers.contentType, hasBody, {
        patch: method === 'PATCH',
        form: interaction === 'search-type',
        raw: binaryType && (method === 'POST' || method === 'PUT'),
      });
      if (kind !== 'none') {
        const buf = await readBody(ctx.req, limits.maxBytes);
        if (kind === 'raw') req.rawBody = buf;
        else if (kind === 'form')
          req.query = [...req.query, ...new URLSearchParams(buf.toString('utf8')).entries()];
        else req.body = parseJsonBody(buf, limits);
      }

      const res = await dispatch(
        req,
        // The CapabilityStatement names the SMART endpoints at the address this request used.
        interaction === 'capabilities'
          ? { ...deps, security: auth.capabilitySecurity(auth.base(ctx)) }
          : deps,
      );
      ctx.status = res.status;
      for (const [k, v] of Object.entries(res.headers ?? {})) ctx.set(k, v);
      if (res.binary) {
        ctx.type = res.binary.contentType;
        if (res.binary.size !== undefined) ctx.length = res.binary.size;
        ctx.body = res.binary.stream;
      } else if (res.body) {
        const pretty = query.some(([k, v]) => k === '_pretty' && v === 'true');
        ctx.type = `${out === 'raw' ? 'application/fhir+json' : out}; charset=utf-8`;
        ctx.body = pretty ? JSON.stringify(res.body, null, 2) : JSON.stringify(res.body);
      } else {
        // Explicit empty body: Koa would otherwise send the status text.
        ctx.body = null;
        ctx.status = res.status;
        if (res.status !== 204 && res.status !== 304) ctx.length = 0;
      }
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.duration.observe({ interaction, method }, seconds);
    }
  };
}
