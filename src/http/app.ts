import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import type { Auth } from '../auth';
import type { DicomWebDeps } from '../dicomweb';
import type { FhirDeps, FhirHandler } from '../fhir';
import type { Database } from '../storage';
import type { Logger } from '../shared';
import { FhirError } from '../shared';
import { accessMiddleware, apiCors } from './auth-middleware';
import type { BodyLimits } from './body';
import { DICOMWEB_PREFIX, dicomWebAdapter } from './dicomweb-adapter';
import { errorFunnel } from './errors';
import { fhirAdapter } from './fhir-adapter';
import type { Metrics } from './metrics';
import { metricsEndpoint } from './metrics';

export interface AppDeps {
  fhir: FhirDeps;
  dicomweb: DicomWebDeps;
  dispatch: FhirHandler;
  db: Database;
  logger: Logger;
  metrics: Metrics;
  limits: BodyLimits;
  auth: Auth;
  /** Whether X-Forwarded-Proto/Host (and -For) are believed: only behind a reverse proxy. */
  trustProxy: boolean;
}

export interface InFlight {
  count: number;
}

export function createApp(deps: AppDeps, inFlight: InFlight): Koa {
  const app = new Koa();
  app.proxy = deps.trustProxy;
  // The request log wraps the error funnel: it must see the status the funnel answers with.
  app.use(async (ctx, next) => {
    const requestId = /^[\w-]{1,64}$/.test(ctx.get('X-Request-Id')) ? ctx.get('X-Request-Id') : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    inFlight.count++;
    const started = Date.now();
    deps.logger.debug({ requestId, method: ctx.method }, 'request received');
    try {
      await next();
    } finally {
      inFlight.count--;
      const interaction = (ctx.state.interaction as string | undefined) ?? 'other';
      deps.metrics.requests.inc({ interaction, method: ctx.method, status: String(ctx.status) });
      // Route-level fields only: paths and query strings can carry identifiers.
      deps.logger.info(
        { requestId, method: ctx.method, interaction, status: ctx.status, ms: Date.now() - started },
        'request',
      );
    }
  });
  app.use(errorFunnel(deps.logger));

  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    try {
      await deps.db.raw('SELECT 1');
      ctx.body = { status: 'ready' };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'database unreachable' };
    }
  });
  router.get('/metrics', metricsEndpoint(deps.metrics));
  const fhir = fhirAdapter(deps.dispatch, deps.fhir, deps.limits, deps.metrics, deps.auth);
  const dicomweb = dicomWebAdapter(deps.dicomweb, deps.metrics);
  app.use(router.routes());
  app.use(apiCors());
  app.use(deps.auth.routes);
  app.use(accessMiddleware(deps.auth));
  app.use(async (ctx, next) => {
    if (ctx.path === '/fhir' || ctx.path.startsWith('/fhir/')) await fhir(ctx, next);
    else if (ctx.path === DICOMWEB_PREFIX || ctx.path.startsWith(`${DICOMWEB_PREFIX}/`)) await dicomweb(ctx);
    else await next();
  });
  app.use((ctx) => {
    if (ctx.status === 404 && ctx.body === undefined)
      throw FhirError.of('not-found', `No route for ${ctx.path}`);
  });
  return app;
}
