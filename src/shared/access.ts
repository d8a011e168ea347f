/**
 * Who is asking. Every repository call carries one so that authorization can later be
 * enforced in a single layer around the repository instead of in each handler.
 */
export interface AccessContext {
  readonly kind: 'system' | 'user';
  /** Stable id of the actor, e.g. "system" or a Practitioner reference. */
  readonly actor: string;
  readonly roles: readonly string[];
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
