import type { Principal } from '../shared';
import { storageKey } from './adapter';
import type { LaunchContexts } from './context';
import { splitScope, userPrincipal } from './context';
import type { Provider } from './oidc';
import type { UserStore } from './users';

/** The opaque tokens this server issues (256 bits, base64url); anything else is not looked up. */
const OPAQUE_TOKEN = /^[A-Za-z0-9_-]{32,128}$/;

export interface VerifiedToken {
  principal: Principal;
  /** Digest of the token value (the adapter's row id); names it on the change bus. */
  tokenKey: string;
  /** Expiry, epoch seconds. */
  exp: number;
  grantId?: string;
  username?: string;
}

/**
 * The resource server's check of a bearer token: an access token (user) or client-credentials
 * token (backend service) stored by oidc-provider, unexpired, not revoked, issued for this FHIR
 * base, and for a user who is still enabled. Returns undefined for anything else: forged or
 * foreign JWTs (this server's access tokens are opaque), unknown, expired, revoked, wrong
 * audience, disabled user.
 */
export class TokenVerifier {
  constructor(
    private readonly provider: () => Provider,
    private readonly users: UserStore,
    private readonly contexts: LaunchContexts,
  ) {}

  async verify(token: string, fhirBase: string): Promise<VerifiedToken | undefined> {
    if (!OPAQUE_TOKEN.test(token)) return undefined;
    const provider = this.provider();
    const found = (await provider.AccessToken.find(token)) ?? (await provider.ClientCredentials.find(token));
    if (!found?.isValid) return undefined;
    const audiences = Array.isArray(found.aud) ? found.aud : [found.aud];
    if (!audiences.includes(fhirBase)) return undefined;
    const exp = found.exp ?? 0;
    const { grantId } = found as { grantId?: string };
    const common = {
      tokenKey: storageKey(token),
      exp,
      ...(grantId && { grantId }),
    };
    const scopes = splitScope(found.scope);
    const expiresAt = new Date(exp * 1000).toISOString();
    if (found.kind === 'ClientCredentials' || !found.accountId) {
      return {
        ...common,
        principal: {
          kind: 'client',
          clientId: found.clientId ?? '',
          scopes,
          expiresAt,
          tokenId: common.tokenKey,
        },
      };
    }
    const user = await this.users.find(found.accountId);
    if (!user || user.disabled) return undefined;
    const context = await this.contexts.get(grantId);
    return {
      ...common,
      username: user.username,
      principal: userPrincipal(user, found.clientId ?? '', scopes, context, {
        expiresAt,
        ...(grantId && { tokenId: grantId }),
      }),
    };
  }
}
