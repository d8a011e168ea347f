import type { Context, Middleware } from 'koa';
import type { Config } from '../config';
import type { KeyStore } from '../keys';
import type { AccessContext, AccessResolver, Clock, Logger } from '../shared';
import type { ChangeBus, Database } from '../storage';
import { AccessCache, RejectedToken } from './access-cache';
import { removeExpired } from './adapter';
import { loadClientsFile } from './clients';
import { LaunchContexts } from './context';
import { capabilitySecurity, requestBase } from './discovery';
import { UnauthorizedError } from './errors';
import { interactionRoutes } from './interactions';
import { ProviderPool } from './providers';
import { createProvisionalAccessResolver } from './provisional-access';
import { authRoutes } from './routes';
import { TokenVerifier } from './tokens';
import { UserStore } from './users';

const CLEANUP_MS = 10 * 60 * 1000;

export interface AuthDeps {
  config: Config;
  db: Database;
  keys: KeyStore;
  bus: ChangeBus;
  clock: Clock;
  logger: Logger;
  /** Whether a user's fhirUser (Practitioner/… or Patient/…) exists, checked at login. */
  fhirUserExists(reference: string): Promise<boolean>;
  /** The access layer; until src/access lands, a provisional one. */
  resolver?: AccessResolver;
}

export type Api = 'fhir' | 'dicom-web';

/** The authorization server and the resource server's token check, built from configuration. */
export interface Auth {
  /** AUTH_REQUIRED: false makes every request the development system user. */
  readonly required: boolean;
  /** Discovery, /oauth2/* (oidc-provider and the login pages) and /admin/users. */
  readonly routes: Middleware;
  /** This request's base URL: PUBLIC_URL, or its own scheme, host and port. */
  base(ctx: Context): string;
  /** The caller's AccessContext from `Authorization: Bearer`; throws UnauthorizedError (401). */
  access(ctx: Context, api: Api): Promise<AccessContext>;
  /** CapabilityStatement.rest.security for a base URL. */
  capabilitySecurity: typeof capabilitySecurity;
  close(): void;
}

const LOOPBACK = /^(127(\.\d{1,3}){3}|::1|\[::1\]|localhost)$/;

/** AUTH_REQUIRED=false is for a developer's own machine only. */
export function assertDevelopmentHost(config: Config): void {
  if (!config.authRequired && !LOOPBACK.test(config.host))
    throw new Error(
      `AUTH_REQUIRED=false is for local development only: HOST must be a loopback address (127.0.0.0/8, ::1, localhost), not ${config.host}`,
    );
}

export async function createAuth(deps: AuthDeps): Promise<Auth> {
  const { config, db, bus, clock, logger } = deps;
  assertDevelopmentHost(config);
  if (!config.authRequired)
    logger.warn(
      'AUTH_REQUIRED=false: every request acts as the development system user, without a token. Never expose this server.',
    );
  const users = new UserStore(db, clock, config.passwordScryptCost);
  const contexts = new LaunchContexts(db, clock);
  const resolver = deps.resolver ?? createProvisionalAccessResolver();
  const jwks = await deps.keys.signingKeys();
  const cookieKey = await deps.keys.secret('cookie');
  const base = (ctx: Context): string => requestBase(`${ctx.protocol}://${ctx.host}`, config.publicUrl);

  const pool = new ProviderPool(
    { config, db, clock, users, resolver, contexts, jwks, cookieKeys: [cookieKey] },
    {
      logger,
      trustProxy: config.trustProxy,
      publicUrl: config.publicUrl,
      revoked: (payload) => {
        bus.publish('token', payload).catch(() => {
          logger.warn('could not announce a revoked token');
        });
      },
      stillActive: async (token, fhirBase) => {
        try {
          await cache.access(token, fhirBase, undefined);
          return true;
        } catch {
          return false;
        }
      },
    },
    config.publicUrl ?? `http://${config.host}:${config.port}`,
  );
  const cache = new AccessCache(new TokenVerifier(() => pool.any(), users, contexts), resolver, bus, clock);

  await users.seedInitialAdmin(config.adminPassword, config.dataDir, logger);
  if (config.usersFile)
    logger.info({ users: await users.seedFromFile(config.usersFile) }, 'USERS_FILE seeded');
  if (config.smartClientsFile)
    logger.info(
      { clients: await loadClientsFile(config.smartClientsFile, pool.any(), config.jwksUriAllowlist) },
      'SMART_CLIENTS_FILE loaded',
    );
  await removeExpired(db, clock);
  const cleanup = setInterval(() => {
    removeExpired(db, clock).catch(() => {
      logger.warn('could not remove expired authorization rows');
    });
  }, CLEANUP_MS);
  cleanup.unref();

  const access = async (ctx: Context, api: Api): Promise<AccessContext> => {
    const address = ctx.ip || undefined;
    if (!config.authRequired)
      return { kind: 'system', actor: 'dev', roles: ['system'], ...(address && { address }) };
    const realm = `${base(ctx)}/${api}`;
    const header = ctx.get('Authorization');
    const match = /^Bearer +([^\s]+) *$/i.exec(header);
    if (!header) throw new UnauthorizedError(realm, false);
    if (!match?.[1]) throw new UnauthorizedError(realm, true);
    try {
      return await cache.access(match[1], `${base(ctx)}/fhir`, address);
    } catch (err) {
      if (err instanceof RejectedToken) throw new UnauthorizedError(realm, true);
      throw err;
    }
  };

  const routes = authRoutes({
    db,
    bus,
    users,
    base,
    access: (ctx) => access(ctx, 'fhir'),
    oauth: (ctx, body) =>
      pool.handle(
        base(ctx),
        ctx.req,
        ctx.res,
        () => {
          ctx.respond = false;
        },
        body,
      ),
    interactions: interactionRoutes({
      provider: (ctx) => pool.get(base(ctx)),
      fhirBase: (ctx) => `${base(ctx)}/fhir`,
      users,
      resolver,
      contexts,
      fhirUserExists: (reference) => deps.fhirUserExists(reference),
      csrfKey: cookieKey,
      grantTtlSeconds: config.refreshTokenTtlSeconds,
    }),
  });

  return {
    required: config.authRequired,
    routes,
    base,
    access,
    capabilitySecurity,
    close() {
      clearInterval(cleanup);
      cache.close();
    },
  };
}
