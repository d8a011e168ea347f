import { randomBytes } from 'node:crypto';
import type { Config } from '../config';
import type { PrivateJwk } from '../keys';
import type { AccessResolver, Clock } from '../shared';
import type { Database } from '../storage';
import { DatabaseAdapter } from './adapter';
import {
  AUTH_METHODS,
  guardedFetch,
  JWKS_URI_MAX_BYTES,
  jwksUriProblem,
  launchUrlProblem,
  registeredScopes,
  STATIC_SCOPES,
} from './clients';
import type { LaunchContexts } from './context';
import { splitScope, userPrincipal } from './context';
import { INTERACTION_PATH, OAUTH_PREFIX, ROUTES, smartEndpoints } from './discovery';
import type { Account, ClientMetadata, Configuration, KoaContextWithOIDC, ResourceServer } from './oidc';
import { errors, interactionPolicy } from './oidc';
import { errorPage } from './pages';
import type { UserStore } from './users';

/** Backend-services tokens live at most this long (SMART: expires_in ≤ 300). */
export const CLIENT_TOKEN_MAX_TTL = 300;
/** A client assertion may expire at most this far ahead (SMART: exp ≤ 5 minutes). */
export const ASSERTION_MAX_LIFETIME = 300;
/** The login session at the authorization server; also how long online_access refresh tokens live. */
export const SESSION_TTL = 12 * 3600;
/** Codes are single-use and short-lived (SMART: ≤ 10 minutes). */
export const CODE_TTL = 60;

export interface ProviderDeps {
  config: Config;
  db: Database;
  clock: Clock;
  users: UserStore;
  resolver: AccessResolver;
  contexts: LaunchContexts;
  jwks: PrivateJwk[];
  cookieKeys: string[];
}

/**
 * oidc-provider's configuration for one base URL (issuer `${base}/oauth2`, FHIR base
 * `${base}/fhir`). Every instance shares the database adapter, keys and cookie keys, so a token
 * or session made by one is valid in all of them, in every API process.
 */
export function providerConfiguration(base: string, deps: ProviderDeps): Configuration {
  const { config, users, resolver, contexts } = deps;
  const fhirBase = `${base}/fhir`;
  const tokenUrl = smartEndpoints(base).token;
  const now = (): number => Math.floor(deps.clock.now().getTime() / 1000);

  const findAccount = async (
    _ctx: KoaContextWithOIDC,
    sub: string,
    token?: { kind: string; clientId?: string; scope?: string; grantId?: string },
  ): Promise<Account | undefined> => {
    const user = await users.find(sub);
    if (!user || user.disabled) return undefined;
    if (token && (token.kind === 'RefreshToken' || token.kind === 'AuthorizationCode')) {
      // A refresh or code exchange is refused when the user can no longer act (an ended role).
      const principal = userPrincipal(
        user,
        token.clientId ?? '',
        splitScope(token.scope),
        await contexts.get(token.grantId),
      );
      try {
        await resolver.resolve(principal);
      } catch {
        throw new errors.InvalidGrant('the user may no longer use this grant');
      }
    }
    return {
      accountId: sub,
      claims: () => ({ sub, ...(user.fhirUser && { fhirUser: `${fhirBase}/${user.fhirUser}` }) }),
    };
  };

  const getResourceServerInfo = async (
    ctx: KoaContextWithOIDC,
    indicator: string,
    client: { clientId: string; scope?: string | undefined; [key: string]: unknown },
  ): Promise<ResourceServer> => {
    if (indicator !== fhirBase) throw new errors.InvalidTarget(`resource must be the FHIR base ${fhirBase}`);
    const asked = splitScope(ctx.oidc.params?.scope as string | undefined);
    const backend = ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials';
    if (backend) {
      const scope = await resolver.grantable(asked, registeredScopes(client), {
        kind: 'client',
        clientId: client.clientId,
      });
      if (scope.length === 0)
        throw new errors.InvalidScope(
          'none of the requested scopes can be granted to this client',
          asked.join(' '),
        );
      return {
        scope: scope.join(' '),
        audience: fhirBase,
        accessTokenTTL: CLIENT_TOKEN_MAX_TTL,
        accessTokenFormat: 'opaque',
      };
    }
    // What a user's token may carry is decided at consent and kept in the grant; oidc-provider
    // intersects the request with this list and then with the grant.
    const granted = splitScope(ctx.oidc.entities.Grant?.getResourceScope(fhirBase));
    return {
      scope: [...new Set([...asked, ...granted])].join(' '),
      audience: fhirBase,
      accessTokenTTL: config.accessTokenTtlSeconds,
      accessTokenFormat: 'opaque',
    };
  };

  const policy = interactionPolicy.base();
  // Every authorization is confirmed on the consent page (launch context is chosen there).
  policy
    .get('consent')
    ?.checks.push(
      new interactionPolicy.Check(
        'smart_consent',
        'each authorization is confirmed by the user',
        'consent_required',
        (ctx) =>
          ctx.oidc.result?.consent
            ? interactionPolicy.Check.NO_NEED_TO_PROMPT
            : interactionPolicy.Check.REQUEST_PROMPT,
      ),
    );
  // A session whose user was disabled since must log in again.
  policy.get('login')?.checks.push(
    new interactionPolicy.Check(
      'inactive_account',
      'the signed-in user is disabled',
      'login_required',
      async (ctx) => {
        const accountId = ctx.oidc.session?.accountId;
        if (!accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        const user = await users.find(accountId);
        return user && !user.disabled
          ? interactionPolicy.Check.NO_NEED_TO_PROMPT
          : interactionPolicy.Check.REQUEST_PROMPT;
      },
    ),
  );

  return {
    adapter: (name: string) => new DatabaseAdapter(deps.db, deps.clock, name),
    clients: [],
    jwks: { keys: deps.jwks },
    cookies: {
      keys: deps.cookieKeys,
      names: { session: 'oauth_session', interaction: 'oauth_interaction', resume: 'oauth_resume' },
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    claims: { openid: ['sub'], fhirUser: ['fhirUser'] },
    scopes: [...STATIC_SCOPES],
    findAccount,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // Confidential clients only (a token's holder can use it anyway; a public client cannot prove who it is).
        allowedPolicy: (ctx) => ctx.oidc.client?.clientAuthMethod !== 'none',
      },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId,
      },
      registration: {
        enabled: true,
        // Guarded in front of oidc-provider: only an admin user's access token may register (issue 21.4).
        initialAccessToken: false,
        secretFactory: () => randomBytes(32).toString('base64url'),
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => fhirBase,
        useGrantedResource: () => true,
        getResourceServerInfo,
      },
      rpInitiatedLogout: { enabled: false },
      // Tokens are plain Bearer tokens (the resource server checks no DPoP proofs); no PAR.
      dPoP: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      userinfo: { enabled: true },
    },
    pkce: { required: () => true },
    extraParams: {
      aud(_ctx, value) {
        const aud = value?.replace(/\/$/, '');
        if (aud !== fhirBase)
          throw new errors.InvalidRequest(`aud must be this server's FHIR base URL ${fhirBase}`);
      },
      launch: null,
    },
    extraClientMetadata: {
      properties: ['launch_url', 'smart_scope'],
      validator(_ctx, key, value, metadata: ClientMetadata) {
        const problem = launchUrlProblem(value) ?? jwksUriProblem(metadata.jwks_uri, config.jwksUriAllowlist);
        if (key === 'launch_url' && problem) throw new errors.InvalidClientMetadata(problem);
        if (key === 'smart_scope' && value !== undefined && typeof value !== 'string')
          throw new errors.InvalidClientMetadata('scope must be a string');
      },
    },
    clientAuthMethods: [...AUTH_METHODS],
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS384', 'ES384'],
      idTokenSigningAlgValues: ['RS256', 'ES256'],
    },
    allowOmittingSingleRegisteredRedirectUri: false,
    responseTypes: ['code'],
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.accessTokenTtlSeconds,
      ClientCredentials: (_ctx, token) =>
        Math.min(CLIENT_TOKEN_MAX_TTL, token.resourceServer?.accessTokenTTL ?? CLIENT_TOKEN_MAX_TTL),
      AuthorizationCode: CODE_TTL,
      IdToken: 3600,
      Interaction: 600,
      Session: SESSION_TTL,
      Grant: config.refreshTokenTtlSeconds,
      RefreshToken: (_ctx, token) =>
        token.scopes.has('offline_access')
          ? config.refreshTokenTtlSeconds
          : Math.min(SESSION_TTL, config.refreshTokenTtlSeconds),
    },
    rotateRefreshToken: true,
    // oidc-provider would look at the requested scopes; what counts is what the user granted.
    issueRefreshToken: (ctx, client) => {
      const granted = new Set(splitScope(ctx.oidc.entities.Grant?.getOIDCScope()));
      return (
        client.grantTypeAllowed('refresh_token') &&
        (granted.has('offline_access') || granted.has('online_access'))
      );
    },
    expiresWithSession: () => false,
    // Revoking any token of a grant ends the grant: its access and refresh tokens all stop working.
    revokeGrantPolicy: () => true,
    // Each authorization makes its own grant at consent (its launch context is its own).
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    extraTokenClaims: async (_ctx, token) => {
      const { accountId, grantId } = token as { accountId?: string; grantId?: string };
      if (!accountId) return undefined;
      const user = await users.find(accountId);
      const context = await contexts.get(grantId);
      return {
        ...(user?.fhirUser && { fhirUser: `${fhirBase}/${user.fhirUser}` }),
        ...(context.patient && { patient: context.patient }),
        ...(context.encounter && { encounter: context.encounter }),
        ...(context.fhirContext && { fhirContext: context.fhirContext }),
      };
    },
    assertJwtClientAuthClaimsAndHeader: (_ctx, claims, header, client) => {
      if (typeof header.kid !== 'string')
        throw new errors.InvalidClientAuth('the client assertion must name its key (kid)');
      if (claims.sub !== client.clientId) throw new errors.InvalidClientAuth('sub must be the client_id');
      const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!aud.includes(tokenUrl))
        throw new errors.InvalidClientAuth(`aud must be the token URL ${tokenUrl}`);
      if (typeof claims.exp !== 'number' || claims.exp > now() + ASSERTION_MAX_LIFETIME)
        throw new errors.InvalidClientAuth('exp must be at most 5 minutes ahead');
    },
    // Browser apps (public clients) may call the token endpoints from their redirect URIs' or launch URL's origin.
    clientBasedCORS: (_ctx, origin, client) =>
      [...(client.redirectUris ?? []), client.launch_url as string | undefined].some(
        (uri) => typeof uri === 'string' && URL.parse(uri)?.origin === origin,
      ),
    fetch: guardedFetch(config.jwksUriAllowlist),
    fetchResponseBodyLimits: {
      jwks_uri: JWKS_URI_MAX_BYTES,
      sector_identifier_uri: JWKS_URI_MAX_BYTES,
      'client_id metadata document': 5120,
    },
    interactions: {
      url: (_ctx, interaction) => `${OAUTH_PREFIX}${INTERACTION_PATH}/${interaction.uid}`,
      policy,
    },
    renderError: (ctx, out) => {
      const p = errorPage('Sign-in cannot continue', out.error_description ?? out.error, ctx.status || 400);
      ctx.set(p.headers);
      ctx.type = 'html';
      ctx.body = p.html;
    },
    routes: ROUTES,
  };
}
