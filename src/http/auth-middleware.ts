import type { Middleware } from 'koa';
import type { Api, Auth } from '../auth';
import { DICOMWEB_PREFIX } from './dicomweb-adapter';

/** FHIR paths anyone may read without a token (issue 21.2); discovery is answered before this. */
const PUBLIC_FHIR = new Set(['/fhir/metadata']);

const EXPOSED =
  'Location, ETag, Content-Location, Last-Modified, WWW-Authenticate, X-Request-Id, X-Progress, Warning';
const ALLOWED =
  'Authorization, Content-Type, Accept, If-Match, If-None-Match, If-None-Exist, If-Modified-Since, Prefer, X-Request-Id';

export function apiOf(path: string): Api | undefined {
  if (path === '/fhir' || path.startsWith('/fhir/')) return 'fhir';
  if (path === DICOMWEB_PREFIX || path.startsWith(`${DICOMWEB_PREFIX}/`)) return 'dicom-web';
  return undefined;
}

/**
 * CORS for browser apps (SMART apps, viewers): any origin, the Authorization header, the
 * response headers clients read; preflights are answered here, without a token. Tokens travel
 * in a header, never in cookies, so no credentials mode.
 */
export function apiCors(): Middleware {
  return async (ctx, next) => {
    if (!apiOf(ctx.path)) {
      await next();
      return;
    }
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.set('Access-Control-Expose-Headers', EXPOSED);
    if (ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method')) {
      ctx.set('Access-Control-Allow-Methods', 'GET, HEAD, POST, PUT, PATCH, DELETE');
      ctx.set('Access-Control-Allow-Headers', ctx.get('Access-Control-Request-Headers') || ALLOWED);
      ctx.set('Access-Control-Max-Age', '3600');
      ctx.status = 204;
      return;
    }
    await next();
  };
}

/**
 * The one place HTTP meets the token check: `Authorization: Bearer` → verified token → Principal
 * → AccessContext (with the caller's address) in ctx.state.access, which the FHIR and DICOMweb
 * adapters hand to the handlers. A bad or missing token is a 401 from the error funnel.
 */
export function accessMiddleware(auth: Auth): Middleware {
  return async (ctx, next) => {
    const api = apiOf(ctx.path);
    if (!api) {
      await next();
      return;
    }
    ctx.state.realm = `${auth.base(ctx)}/${api}`;
    const publicRead = PUBLIC_FHIR.has(ctx.path) && (ctx.method === 'GET' || ctx.method === 'HEAD');
    if (!publicRead) ctx.state.access = await auth.access(ctx, api);
    await next();
  };
}
