import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Logger } from '../shared';
import { storageKey } from './adapter';
import { OAUTH_PREFIX, ROUTES } from './discovery';
import type { KoaContextWithOIDC } from './oidc';
import { Provider } from './oidc';
import type { ProviderDeps } from './provider-config';
import { providerConfiguration } from './provider-config';

/** Most issuers kept at once when PUBLIC_URL is unset (one per origin the server was reached at). */
const MAX_PROVIDERS = 16;

export interface ProviderHooks {
  logger: Logger;
  trustProxy: boolean;
  /** PUBLIC_URL: when set, oidc-provider builds every URL (and accepted assertion audience) from it. */
  publicUrl: string | undefined;
  /** Announces a revoked grant or destroyed token to every API process. */
  revoked(payload: string): void;
  /** Whether a token introspection answer may stay active (its user enabled, still allowed to act). */
  stillActive(token: string, fhirBase: string): Promise<boolean>;
}

interface Entry {
  provider: Provider;
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

/** The request with a body read (and rewritten) already: what oidc-provider reads instead of the socket. */
function replayed(req: IncomingMessage, body: Buffer): IncomingMessage {
  const stream = Readable.from([body]);
  return Object.assign(stream, {
    headers: { ...req.headers, 'content-length': String(body.length) },
    rawHeaders: req.rawHeaders,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    socket: req.socket,
  }) as unknown as IncomingMessage;
}

/**
 * oidc-provider drops offline_access unless prompt=consent (OpenID Connect Core §11); this server
 * shows the consent page on every authorization anyway, so such a request gets prompt=consent.
 */
function askConsentForOfflineAccess(url: string): string {
  const parsed = new URL(url, 'http://x');
  if (parsed.pathname !== ROUTES.authorization) return url;
  const scope = (parsed.searchParams.get('scope') ?? '').split(' ');
  const prompt = (parsed.searchParams.get('prompt') ?? '').split(' ').filter((p) => p !== '');
  if (!scope.includes('offline_access') || prompt.includes('consent') || prompt.includes('none')) return url;
  parsed.searchParams.set('prompt', [...prompt, 'consent'].join(' '));
  return `${parsed.pathname}${parsed.search}`;
}

type TokenBody = Record<string, unknown> & {
  access_token?: unknown;
  active?: unknown;
  smart_scope?: unknown;
};

/**
 * One oidc-provider instance per base URL: with PUBLIC_URL set there is one; otherwise one per
 * origin the server is reached at (`http://127.0.0.1:PORT`, `http://localhost:PORT`, ...), at most
 * MAX_PROVIDERS (least recently used first out; an evicted one is simply made again). They share
 * the database adapter, keys and cookie keys, so tokens and sessions of any are valid in all.
 */
export class ProviderPool {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly deps: ProviderDeps,
    private readonly hooks: ProviderHooks,
    private readonly defaultBase: string,
  ) {}

  get(base: string): Provider {
    return this.entry(base).provider;
  }

  /** A provider for work that does not depend on the issuer (finding tokens, validating clients). */
  any(): Provider {
    const last = [...this.entries.values()].pop();
    return last?.provider ?? this.get(this.defaultBase);
  }

  /** Runs oidc-provider for a request below OAUTH_PREFIX (the prefix is stripped as a mount would). */
  async handle(
    base: string,
    incoming: IncomingMessage,
    res: ServerResponse,
    takeOver: () => void,
    body?: Buffer,
  ): Promise<void> {
    const { handle } = this.entry(base);
    // From here on oidc-provider answers (errors included) on the raw response.
    takeOver();
    const req = body ? replayed(incoming, body) : incoming;
    const { publicUrl, trustProxy } = this.hooks;
    if (publicUrl) {
      // oidc-provider builds URLs from the request; with PUBLIC_URL they must be that one's.
      const pub = new URL(publicUrl);
      req.headers['x-forwarded-host'] = pub.host;
      req.headers['x-forwarded-proto'] = pub.protocol.slice(0, -1);
      if (!trustProxy) delete req.headers['x-forwarded-for'];
    }
    const url = askConsentForOfflineAccess((req.url ?? '/').slice(OAUTH_PREFIX.length) || '/');
    Object.assign(req, { originalUrl: `${OAUTH_PREFIX}${url}` });
    req.url = url;
    await handle(req, res);
  }

  private entry(base: string): Entry {
    let e = this.entries.get(base);
    if (e) {
      this.entries.delete(base);
      this.entries.set(base, e);
      return e;
    }
    const provider = new Provider(`${base}${OAUTH_PREFIX}`, providerConfiguration(base, this.deps));
    provider.proxy = this.hooks.trustProxy || this.hooks.publicUrl !== undefined;
    this.instrument(provider, `${base}/fhir`);
    const callback = provider.callback();
    e = { provider, handle: (req, res) => callback(req, res) };
    if (this.entries.size >= MAX_PROVIDERS) this.entries.delete(this.entries.keys().next().value ?? '');
    this.entries.set(base, e);
    return e;
  }

  private instrument(provider: Provider, fhirBase: string): void {
    const { hooks } = this;
    provider.use(async (ctx, next) => {
      await next();
      // oidc-provider sends Cache-Control: no-store on token responses but no Pragma (RFC 6749 §5.1).
      if (/no-store/.test(ctx.response.get('Cache-Control'))) ctx.set('Pragma', 'no-cache');
      const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
      const body = ctx.body as TokenBody | undefined;
      if (!oidc || typeof body !== 'object' || body === null) return;
      if (
        (oidc.route === 'registration' || oidc.route === 'client') &&
        typeof body.smart_scope === 'string'
      ) {
        // Registered scopes are shown whole, as the client sent them (see splitClientScope).
        body.scope = body.smart_scope;
        delete body.smart_scope;
      }
      if (ctx.status !== 200) return;
      if (oidc.route === 'token' && typeof body.access_token === 'string') {
        // SMART launch context belongs in the token response; oidc-provider keeps it in the token only.
        const extra = (oidc.entities.AccessToken?.extra ?? {}) as Record<string, unknown>;
        for (const name of ['patient', 'encounter', 'fhirContext'])
          if (extra[name] !== undefined) body[name] = extra[name];
      }
      if (oidc.route === 'introspection' && body.active === true && typeof oidc.params?.token === 'string') {
        if (!(await hooks.stillActive(oidc.params.token, fhirBase))) ctx.body = { active: false };
      }
    });
    provider.on('grant.revoked', (_ctx: unknown, grantId: string) => {
      hooks.revoked(grantId);
    });
    const destroyed = (token: { jti?: string; grantId?: string }): void => {
      hooks.revoked(token.grantId ?? storageKey(token.jti ?? ''));
    };
    provider.on('access_token.destroyed', destroyed);
    provider.on('client_credentials.destroyed', destroyed);
    provider.on('refresh_token.destroyed', destroyed);
    provider.on('server_error', (_ctx: unknown, err: Error) => {
      // The name and stack only: messages may quote request data.
      hooks.logger.error(
        { errName: err.name, stack: err.stack?.split('\n').slice(1, 6).join('\n') },
        'oauth server error',
      );
    });
  }
}
