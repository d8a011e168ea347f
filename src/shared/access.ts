/**
 * What a verified bearer token (or a finished login, before its token exists) says about the
 * caller. The authorization server (src/auth) produces it; the access layer (src/access) turns
 * it into an AccessContext by reading the caller's roles from FHIR data. Plain JSON, so it can
 * travel with a durable job.
 */
export interface Principal {
  /** A person who logged in, or a backend service acting as itself (client_credentials). */
  readonly kind: 'user' | 'client';
  readonly clientId: string;
  /** The scopes granted to the token, exactly as issued (SMART v1 or v2 syntax). */
  readonly scopes: readonly string[];
  /** Local username (users only). */
  readonly username?: string;
  /** The user's FHIR identity: `Practitioner/{id}` or `Patient/{id}` (relative reference). */
  readonly fhirUser?: string;
  /** Whether the user administers the server (users, clients, configuration). */
  readonly admin?: boolean;
  /** Launch context: the patient (id) and encounter (id) the token is bound to. */
  readonly patient?: string;
  readonly encounter?: string;
  /** An emergency reason asserted at authorization time, and until when it holds (ISO instant). */
  readonly breakGlass?: { readonly reason: string; readonly until: string };
  /** When the token expires (ISO instant). */
  readonly expiresAt?: string;
  /** A stable, non-secret id of the token or grant, for audit and revocation. */
  readonly tokenId?: string;
}

/**
 * Who is asking. Every repository call carries one, so that authorization is enforced in a
 * single layer around the repository (src/access) instead of in each handler.
 */
export interface AccessContext {
  /**
   * `system`: the server's own work (pipeline, jobs, migrations, development mode), unrestricted.
   * `user` / `client`: a caller with a token, restricted by its scopes and the user's roles.
   */
  readonly kind: 'system' | 'user' | 'client';
  /** Stable id of the actor, e.g. "system", "user/alice", "client/lab-feed". */
  readonly actor: string;
  /** Role codes in effect (`system`, `doctor`, `radiologist`, `intern`, `admin`, ...). */
  readonly roles: readonly string[];
  /** The token's facts; absent for the server's own work. */
  readonly principal?: Principal;
  /**
   * When this context stops being valid (ISO instant): the token's expiry, or earlier the end
   * of a role period it depends on. A cached context must not be used after it.
   */
  readonly notAfter?: string;
  /** Network address of the caller (for audit). */
  readonly address?: string;
}

/**
 * The contract between the authorization server (src/auth) and the access layer (src/access):
 * auth verifies tokens and runs logins; access knows roles, scopes and what they allow.
 */
export interface AccessResolver {
  /**
   * The AccessContext of a verified token's principal (or of a user who just logged in).
   * Throws a 401 FhirError when the principal may no longer act: a role it depended on has
   * ended, or its fhirUser no longer exists.
   */
  resolve(principal: Principal): Promise<AccessContext>;
  /**
   * The scopes to grant at authorization time: those asked, within the client's registered
   * scopes and what the user's roles allow (a backend client: its registered `system/` scopes).
   */
  grantable(
    asked: readonly string[],
    clientScopes: readonly string[],
    principal: Omit<Principal, 'scopes'>,
  ): Promise<string[]>;
}

export const SYSTEM_ACCESS: AccessContext = Object.freeze({
  kind: 'system',
  actor: 'system',
  roles: ['system'],
});

/**
 * The single place authorization will be decided. Until users exist only the system may act;
 * the SMART/role issue replaces this with a policy that reads roles and compartments.
 */
export interface AccessPolicy {
  canRead(access: AccessContext, resourceType: string): boolean;
  canWrite(access: AccessContext, resourceType: string): boolean;
}

export const systemOnlyPolicy: AccessPolicy = {
  canRead: (access) => access.kind === 'system',
  canWrite: (access) => access.kind === 'system',
};
