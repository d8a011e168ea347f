import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { AccessContext } from '../shared';
import { badRequest, FhirError, notFound } from '../shared';
import type { ChangeBus, Database } from '../storage';
import { removeAccount } from './adapter';
import { splitClientScope } from './clients';
import { OAUTH_PREFIX, ROUTES, smartConfiguration } from './discovery';
import { forbidden, UnauthorizedError } from './errors';
import type { UserStore } from './users';
import { validateUserEntry } from './users';

const MAX_JSON_BYTES = 16 * 1024;

export interface RouteDeps {
  db: Database;
  bus: ChangeBus;
  users: UserStore;
  base(ctx: Context): string;
  /** The caller's context from its bearer token (or the development user); throws UnauthorizedError. */
  access(ctx: Context, api: 'fhir'): Promise<AccessContext>;
  /** oidc-provider for this request's base, given the raw request (or with this body instead). */
  oauth(ctx: Context, body?: Buffer): Promise<void>;
  interactions: Middleware;
}

function isAdmin(access: AccessContext): boolean {
  return access.kind === 'system' || access.principal?.admin === true;
}

async function readJson(ctx: Context): Promise<unknown> {
  if (!ctx.is('application/json', 'application/fhir+json'))
    throw badRequest('The body must be application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BYTES)
      throw new FhirError(413, { code: 'too-costly', message: 'The body is too large' });
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw badRequest('The body is not valid JSON');
  }
}

/**
 * Everything of the authorization server that is reached over HTTP: SMART discovery, oidc-provider
 * below /oauth2 (with RFC 7591 registration open to admin users' tokens only), the login pages
 * and /admin/users.
 */
export function authRoutes(deps: RouteDeps): Middleware {
  const router = new Router();
  const discovery = (ctx: Context): void => {
    ctx.set('Access-Control-Allow-Origin', '*');
    if (ctx.method === 'OPTIONS') {
      ctx.set('Access-Control-Allow-Methods', 'GET');
      ctx.status = 204;
      return;
    }
    ctx.type = 'application/json';
    ctx.body = smartConfiguration(deps.base(ctx));
  };
  for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration'])
    router.get(path, discovery).options(path, discovery);

  const admin = async (ctx: Context): Promise<void> => {
    if (!isAdmin(await deps.access(ctx, 'fhir'))) throw forbidden('Only an administrator may do this');
  };

  router.post('/admin/users', async (ctx) => {
    await admin(ctx);
    const entry = validateUserEntry(await readJson(ctx), 'The user');
    const outcome = await deps.users.upsert(entry, { enable: true });
    await deps.bus.publish('user', entry.username);
    ctx.status = outcome === 'created' ? 201 : 200;
    ctx.body = { username: entry.username, fhirUser: entry.fhirUser, admin: entry.admin === true };
  });

  router.delete('/admin/users/:username', async (ctx) => {
    await admin(ctx);
    const username = ctx.params.username ?? '';
    if (!(await deps.users.disable(username))) throw notFound(`No user ${username}`);
    // Its sessions, grants and tokens go at once; other API processes drop what they cached.
    await removeAccount(deps.db, username);
    await deps.bus.publish('user', username);
    ctx.status = 204;
  });

  // RFC 7591: the initial access token is an admin user's access token (issue 21.4).
  router.post(`${OAUTH_PREFIX}${ROUTES.registration}`, async (ctx) => {
    let access: AccessContext;
    try {
      access = await deps.access(ctx, 'fhir');
    } catch (err) {
      if (!(err instanceof UnauthorizedError)) throw err;
      ctx.status = 401;
      ctx.set('WWW-Authenticate', err.challenge);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'invalid_token', error_description: 'an administrator access token is required' };
      return;
    }
    if (!isAdmin(access)) {
      ctx.status = 403;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = {
        error: 'insufficient_scope',
        error_description: 'only administrators may register clients',
      };
      return;
    }
    const metadata = await readJson(ctx);
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_client_metadata', error_description: 'the body must be a JSON object' };
      return;
    }
    await deps.oauth(ctx, Buffer.from(JSON.stringify(splitClientScope(metadata as Record<string, unknown>))));
  });

  const routes = router.routes() as unknown as Middleware;
  return async (ctx, next) => {
    if (ctx.path.startsWith(`${OAUTH_PREFIX}/interaction/`)) {
      await deps.interactions(ctx, next);
      return;
    }
    await routes(ctx, async () => {
      if (ctx.path === OAUTH_PREFIX || ctx.path.startsWith(`${OAUTH_PREFIX}/`)) await deps.oauth(ctx);
      else await next();
    });
  };
}
