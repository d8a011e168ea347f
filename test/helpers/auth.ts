import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import type { Config } from '../../src/config';
import type { TestServer } from './server';
import { startTestServer } from './server';

/** Every resource scope a test client may get, in v2 and v1 syntax. */
export const ALL_USER_SCOPES =
  'openid fhirUser launch launch/patient launch/encounter offline_access online_access patient/*.cruds patient/*.rs user/*.cruds user/*.rs patient/*.read user/*.read';
export const SYSTEM_SCOPES = 'system/*.cruds system/*.rs system/*.read';

export const REDIRECT_URI = 'https://app.example.org/callback';

export interface BackendClient {
  clientId: string;
  kid: string;
  alg: 'ES384' | 'RS384';
  privateKey: jose.CryptoKey;
  /** RFC 7591 metadata, as written to SMART_CLIENTS_FILE. */
  metadata: Record<string, unknown>;
}

/** A backend-services client (private_key_jwt) with a key pair generated here. */
export async function backendClient(
  clientId = 'test-backend',
  alg: 'ES384' | 'RS384' = 'ES384',
): Promise<BackendClient> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const kid = `${clientId}-key`;
  const jwk = { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' };
  return {
    clientId,
    kid,
    alg,
    privateKey,
    metadata: {
      client_id: clientId,
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      jwks: { keys: [jwk] },
      scope: SYSTEM_SCOPES,
    },
  };
}

export interface AppClient {
  clientId: string;
  clientSecret?: string;
  metadata: Record<string, unknown>;
}

/** A browser app (public, PKCE) or a confidential one (client_secret_basic). */
export function appClient(clientId = 'test-app', confidential = false, scope = ALL_USER_SCOPES): AppClient {
  const clientSecret = confidential ? `${clientId}-secret-0123456789abcdef0123456789` : undefined;
  return {
    clientId,
    ...(clientSecret && { clientSecret }),
    metadata: {
      client_id: clientId,
      client_name: `Test app ${clientId}`,
      token_endpoint_auth_method: confidential ? 'client_secret_basic' : 'none',
      ...(clientSecret && { client_secret: clientSecret }),
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      scope,
    },
  };
}

export interface AuthTestServer extends TestServer {
  backend: BackendClient;
  app: AppClient;
  /** A system/*.cruds access token from a real client_credentials grant, renewed before it expires. */
  systemToken(): Promise<string>;
  /** Authorization header with the system token. */
  authHeaders(): Promise<Record<string, string>>;
  authorizedFetch(url: string, init?: RequestInit): Promise<Response>;
}

/**
 * A test server with AUTH_REQUIRED=true, a backend client and a public app in SMART_CLIENTS_FILE
 * (under its data dir), plus `clients` and `users` (USERS_FILE) if given.
 */
export async function startAuthServer(
  options: {
    clients?: Record<string, unknown>[];
    users?: Record<string, unknown>[];
    overrides?: Partial<Config>;
    /** The backend client to register (a restart keeps its key); a new one by default. */
    backend?: BackendClient;
  } = {},
): Promise<AuthTestServer> {
  const dataDir = options.overrides?.dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'fhir-auth-')));
  const backend = options.backend ?? (await backendClient());
  const app = appClient();
  const clientsFile = path.join(dataDir, 'smart-clients.json');
  await fs.writeFile(
    clientsFile,
    JSON.stringify([backend.metadata, app.metadata, ...(options.clients ?? [])]),
  );
  let usersFile: string | undefined;
  if (options.users) {
    usersFile = path.join(dataDir, 'users.json');
    await fs.writeFile(usersFile, JSON.stringify(options.users));
  }
  const server = await startTestServer({
    authRequired: true,
    smartClientsFile: clientsFile,
    ...(usersFile && { usersFile }),
    adminPassword: 'admin-password-for-tests',
    ...options.overrides,
    dataDir,
  });
  let cached: { token: string; until: number } | undefined;
  const systemToken = async (): Promise<string> => {
    if (cached && cached.until > Date.now()) return cached.token;
    const tokens = await clientCredentials(server, backend, SYSTEM_SCOPES);
    // Renewed a minute before it expires.
    cached = { token: tokens.access_token, until: Date.now() + ((tokens.expires_in ?? 300) - 60) * 1000 };
    return cached.token;
  };
  const authHeaders = async (): Promise<Record<string, string>> => ({
    Authorization: `Bearer ${await systemToken()}`,
  });
  return {
    ...server,
    backend,
    app,
    systemToken,
    authHeaders,
    authorizedFetch: async (url, init = {}) =>
      fetch(url, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), ...(await authHeaders()) },
      }),
    close: async () => {
      await server.close();
      if (!options.overrides?.dataDir) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** openid-client configuration from the server's discovery (plain http is allowed: tests only). */
export async function oidcConfig(
  server: { url: string },
  clientId: string,
  auth: oidc.ClientAuth = oidc.None(),
  metadata: Partial<oidc.ClientMetadata> = {},
): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(`${server.url}/oauth2`), clientId, metadata, auth, {
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the test servers speak plain http
    execute: [oidc.allowInsecureRequests],
  });
}

/** private_key_jwt client authentication as SMART wants it: aud = the token URL. */
export function privateKeyJwt(
  client: Pick<BackendClient, 'privateKey' | 'kid'>,
  modify: (header: Record<string, unknown>, payload: Record<string, unknown>) => void = () => undefined,
  tokenUrl?: string,
): oidc.ClientAuth {
  return oidc.PrivateKeyJwt(
    { key: client.privateKey, kid: client.kid },
    {
      [oidc.modifyAssertion]: (header, payload) => {
        if (tokenUrl) payload.aud = tokenUrl;
        modify(header, payload);
      },
    },
  );
}

/** A real client_credentials grant with private_key_jwt. */
export async function clientCredentials(
  server: { url: string },
  client: Pick<BackendClient, 'clientId' | 'privateKey' | 'kid'>,
  scope: string,
  modify?: (header: Record<string, unknown>, payload: Record<string, unknown>) => void,
): Promise<oidc.TokenEndpointResponse> {
  const config = await oidcConfig(
    server,
    client.clientId,
    privateKeyJwt(client, modify, `${server.url}/oauth2/token`),
  );
  return oidc.clientCredentialsGrant(config, { scope });
}

/** A minimal browser: a cookie jar, redirects followed by hand, forms read from the HTML. */
export class Browser {
  readonly cookies = new Map<string, string>();
  /** Pages seen (HTML), in order. */
  readonly pages: { url: string; status: number; html: string }[] = [];

  async request(
    url: string,
    init: { method?: string; form?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.cookies.size) headers.Cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (init.form) headers['Content-Type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      headers,
      body: init.form ? new URLSearchParams(init.form).toString() : undefined,
      redirect: 'manual',
    });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = cookie.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some(
        (a) => /expires=thu, 01 jan 1970/i.test(a.trim()) || /max-age=0/i.test(a.trim()),
      );
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
}

/** The fields of the form whose action contains `actionPart`, and its absolute action URL. */
export function readForm(
  html: string,
  base: string,
  actionPart: string,
): { action: string; fields: Record<string, string> } {
  const forms = html.split('<form').slice(1);
  const form = forms.find((f) => new RegExp(`action="[^"]*${actionPart}`).test(f));
  if (!form) throw new Error(`no form posting to ${actionPart} in: ${html.slice(0, 500)}`);
  const action = /action="([^"]+)"/.exec(form)?.[1] ?? '';
  const fields: Record<string, string> = {};
  for (const m of form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields[m[1]!] = m[2]!;
  return { action: new URL(action.replace(/&amp;/g, '&'), base).href, fields };
}

export interface LoginOptions {
  clientId: string;
  username: string;
  password: string;
  scope: string;
  clientAuth?: oidc.ClientAuth;
  redirectUri?: string;
  /** Extra authorization request parameters (aud defaults to the FHIR base). */
  params?: Record<string, string>;
  /** Decision on the consent page. */
  consent?: 'allow' | 'deny';
  browser?: Browser;
}

export interface LoginResult {
  /** The URL the server finally redirected the browser to (the app's redirect URI with code or error). */
  callback: URL;
  browser: Browser;
  config: oidc.Configuration;
  verifier: string;
  state: string;
}

/**
 * A real authorization code + PKCE login: the authorize request, the login form, the consent
 * form, up to the redirect back to the app (not followed). `exchange` then redeems the code.
 */
export async function authorize(
  server: { url: string; fhirBase: string },
  o: LoginOptions,
): Promise<LoginResult> {
  const config = await oidcConfig(server, o.clientId, o.clientAuth ?? oidc.None());
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const redirectUri = o.redirectUri ?? REDIRECT_URI;
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: o.scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    aud: server.fhirBase,
    ...o.params,
  });
  const browser = o.browser ?? new Browser();
  let next = url.href;
  let form: Record<string, string> | undefined;
  for (let hops = 0; hops < 20; hops++) {
    const res = await browser.request(next, form ? { form } : {});
    form = undefined;
    const location = res.headers.get('location');
    if (location) {
      const target = new URL(location, next);
      if (target.href.startsWith(redirectUri)) return { callback: target, browser, config, verifier, state };
      next = target.href;
      continue;
    }
    const html = await res.text();
    browser.pages.push({ url: next, status: res.status, html });
    if (html.includes('name="password"')) {
      const f = readForm(html, next, '/login');
      next = f.action;
      form = { ...f.fields, username: o.username, password: o.password };
    } else if (html.includes('name="decision"')) {
      const f = readForm(html, next, '/consent');
      next = f.action;
      form = { ...f.fields, decision: o.consent ?? 'allow' };
    } else {
      throw Object.assign(new Error(`login stopped at ${res.status}`), { status: res.status, html });
    }
  }
  throw new Error('too many redirects');
}

/** Redeems the code of a finished authorize() with openid-client (PKCE verifier and state checked). */
export async function exchange(
  login: LoginResult,
): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
  return oidc.authorizationCodeGrant(login.config, login.callback, {
    pkceCodeVerifier: login.verifier,
    expectedState: login.state,
  });
}

/** authorize() then exchange(): the tokens of a user's login. */
export async function loginTokens(server: { url: string; fhirBase: string }, o: LoginOptions) {
  return exchange(await authorize(server, o));
}
