import type { AccessContext, AccessResolver, Principal } from '../shared';

/**
 * PROVISIONAL, to be deleted when src/access (the access engineer's AccessResolver) is merged:
 * grants the asked scopes that the client registered (exactly as written; a backend client only
 * `system/` ones) and maps a principal to a context without reading roles.
 */
export function createProvisionalAccessResolver(): AccessResolver {
  return {
    resolve(principal: Principal): Promise<AccessContext> {
      const actor =
        principal.kind === 'user' ? `user/${principal.username ?? ''}` : `client/${principal.clientId}`;
      return Promise.resolve({
        kind: principal.kind,
        actor,
        roles: principal.admin ? ['admin'] : [],
        principal,
        ...(principal.expiresAt && { notAfter: principal.expiresAt }),
      });
    },
    grantable(asked, clientScopes, principal): Promise<string[]> {
      const registered = new Set(clientScopes);
      return Promise.resolve(
        [...new Set(asked)].filter(
          (s) => registered.has(s) && (principal.kind === 'user' || s.startsWith('system/')),
        ),
      );
    },
  };
}
