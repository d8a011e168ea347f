import { lookup } from 'node:dns/promises';
import fs from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Adapter, ClientMetadata, Provider } from './oidc';

export const AUTH_METHODS = ['none', 'client_secret_basic', 'private_key_jwt'] as const;
/** Largest JWKS document fetched from a client's jwks_uri. */
export const JWKS_URI_MAX_BYTES = 64 * 1024;

/** The RFC 7591 fields SMART_CLIENTS_FILE entries use, checked before oidc-provider's own schema. */
function checkEntry(e: Record<string, unknown>, allowlist: readonly string[]): string | undefined {
  if (typeof e.client_id !== 'string' || !/^[\w.:-]{1,128}$/.test(e.client_id))
    return 'client_id must be 1-128 letters, digits or . _ : -';
  const method = e.token_endpoint_auth_method;
  if (!AUTH_METHODS.includes(method as (typeof AUTH_METHODS)[number]))
    return `token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`;
  if (
    method === 'client_secret_basic' &&
    (typeof e.client_secret !== 'string' || e.client_secret.length < 32)
  )
    return 'client_secret must be a string of at least 32 characters with client_secret_basic';
  if (method !== 'client_secret_basic' && e.client_secret !== undefined)
    return `client_secret must not be set with ${String(method)}`;
  if (method === 'private_key_jwt' && e.jwks === undefined && e.jwks_uri === undefined)
    return 'jwks or jwks_uri is required with private_key_jwt';
  if (typeof e.scope !== 'string' || e.scope.trim() === '')
    return 'scope must list the scopes the client may get';
  if (e.grant_types !== undefined && (!Array.isArray(e.grant_types) || e.grant_types.length === 0))
    return 'grant_types must be a non-empty array';
  return jwksUriProblem(e.jwks_uri, allowlist) ?? launchUrlProblem(e.launch_url);
}

/** Why a client's jwks_uri is refused (not https, or its origin not in JWKS_URI_ALLOWLIST). */
export function jwksUriProblem(value: unknown, allowlist: readonly string[]): string | undefined {
  if (value === undefined) return undefined;
  const url = typeof value === 'string' ? URL.parse(value) : null;
  if (!url || url.protocol !== 'https:') return 'jwks_uri must be an https URL';
  if (!allowlist.includes(url.origin)) return 'jwks_uri origin is not in JWKS_URI_ALLOWLIST';
  return undefined;
}

export function launchUrlProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const url = typeof value === 'string' ? URL.parse(value) : null;
  return url && /^https?:$/.test(url.protocol) ? undefined : 'launch_url must be an http(s) URL';
}

/** The scopes oidc-provider knows itself (OpenID Connect); everything else is the FHIR server's. */
export const STATIC_SCOPES = ['openid', 'offline_access', 'online_access', 'fhirUser'] as const;
const STATICS = new Set<string>(STATIC_SCOPES);

/**
 * oidc-provider accepts only its own scopes in a client's `scope`; SMART scopes are unbounded
 * (`patient/Observation.rs?category=…`). So a registration's `scope` is kept whole in the extra
 * metadata `smart_scope`, and `scope` keeps the OpenID Connect part (which oidc-provider checks
 * requests against). Answers show the whole list as `scope` again (see providers.ts).
 */
export function splitClientScope<T extends Record<string, unknown>>(metadata: T): T {
  if (typeof metadata.scope !== 'string') return metadata;
  const { scope, ...rest } = metadata;
  const oidc = scope.split(' ').filter((s) => STATICS.has(s));
  return { ...rest, ...(oidc.length > 0 && { scope: oidc.join(' ') }), smart_scope: scope } as unknown as T;
}

/** The scopes a client registered (whole list). */
export function registeredScopes(
  client: { scope?: string | undefined; [key: string]: unknown } | undefined,
): string[] {
  const scope = (client?.smart_scope as string | undefined) ?? client?.scope ?? '';
  return scope.split(' ').filter((s) => s !== '');
}

/** RFC 7591 defaults that follow from the grant types (backend services have no redirect URIs). */
function withDefaults(e: Record<string, unknown>): ClientMetadata {
  const grants = (e.grant_types as string[] | undefined) ?? ['authorization_code', 'refresh_token'];
  const code = grants.includes('authorization_code');
  return {
    ...e,
    grant_types: grants,
    response_types: (e.response_types as string[] | undefined) ?? (code ? ['code'] : []),
    redirect_uris: (e.redirect_uris as string[] | undefined) ?? [],
  } as unknown as ClientMetadata;
}

/**
 * Loads SMART_CLIENTS_FILE: every entry is checked (our rules, then oidc-provider's schema) before
 * any is stored; a bad one stops the start with its index, client_id and field. Entries are
 * upserted into the database, where every API process finds them.
 */
export async function loadClientsFile(
  file: string,
  provider: Provider,
  allowlist: readonly string[],
): Promise<number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`SMART_CLIENTS_FILE ${file} could not be read as JSON: ${(err as Error).name}`);
  }
  if (!Array.isArray(parsed)) throw new Error(`SMART_CLIENTS_FILE ${file} must be a JSON array of clients`);
  const seen = new Set<string>();
  const clients: ClientMetadata[] = [];
  for (const [i, value] of parsed.entries()) {
    const e = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    const name = `SMART_CLIENTS_FILE entry ${i}${typeof e.client_id === 'string' ? ` (${e.client_id})` : ''}`;
    const problem = checkEntry(e, allowlist);
    if (problem) throw new Error(`${name}: ${problem}`);
    if (seen.has(e.client_id as string)) throw new Error(`${name}: client_id is used twice`);
    seen.add(e.client_id as string);
    const metadata = splitClientScope(withDefaults(e));
    try {
      await provider.Client.validate(metadata);
    } catch (err) {
      const description = (err as { error_description?: string }).error_description ?? (err as Error).message;
      throw new Error(`${name}: ${description}`);
    }
    clients.push(metadata);
  }
  // Client.adapter exists at run time; the type definitions leave it out.
  const { adapter } = provider.Client as unknown as { adapter: Adapter };
  for (const metadata of clients) await adapter.upsert(metadata.client_id, metadata);
  return clients.length;
}

const PRIVATE_V4 = [
  [0x00000000, 8],
  [0x0a000000, 8],
  [0x64400000, 10],
  [0x7f000000, 8],
  [0xa9fe0000, 16],
  [0xac100000, 12],
  [0xc0a80000, 16],
  [0xe0000000, 3],
] as const;

/** Loopback, private, link-local, CGNAT, multicast and reserved addresses: never fetched. */
export function isPrivateAddress(address: string): boolean {
  if (isIP(address) === 4) {
    const n = address.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    return PRIVATE_V4.some(
      ([prefix, bits]) => Math.floor(n / 2 ** (32 - bits)) === Math.floor(prefix / 2 ** (32 - bits)),
    );
  }
  const a = address.toLowerCase();
  if (a.startsWith('::ffff:')) return isPrivateAddress(a.slice(7));
  return a === '::' || a === '::1' || /^f[cd]/.test(a) || /^fe[89ab]/.test(a) || a.startsWith('ff');
}

/**
 * oidc-provider's outgoing fetch (client jwks_uri only, here): the origin must be allow-listed
 * and every address the host resolves to public. oidc-provider adds a 2.5 s timeout, a body
 * limit (fetchResponseBodyLimits) and checks the connected socket's address again.
 */
export function guardedFetch(allowlist: readonly string[]) {
  return async (url: URL | string | Request, init?: RequestInit): Promise<Response> => {
    const target = new URL(url instanceof Request ? url.url : url);
    if (jwksUriProblem(target.href, allowlist)) throw new Error('fetch refused: origin not allow-listed');
    const host = target.hostname.replace(/^\[|\]$/g, '');
    const addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
    if (addresses.length === 0 || addresses.some(isPrivateAddress))
      throw new Error('fetch refused: host resolves to a private address');
    return fetch(target, { ...init, redirect: 'error' });
  };
}
