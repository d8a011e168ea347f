import type { Principal } from '../shared';
import type { Clock } from '../shared';
import type { Database } from '../storage';
import { DatabaseAdapter } from './adapter';
import type { LocalUser } from './users';

/**
 * SMART launch context of one grant (the patient, encounter and fhirContext chosen for it at
 * authorization time). oidc-provider's Grant keeps no custom fields, so it is a row of its own
 * in the adapter's table (model `SmartContext`, id = grant id), written by the consent step (or a
 * launch step) and read into every token of the grant.
 */
export interface LaunchContext {
  patient?: string;
  encounter?: string;
  fhirContext?: { reference: string }[];
  breakGlass?: { reason: string; until: string };
}

export class LaunchContexts {
  private readonly adapter: DatabaseAdapter;

  constructor(db: Database, clock: Clock) {
    this.adapter = new DatabaseAdapter(db, clock, 'SmartContext');
  }

  async save(grantId: string, context: LaunchContext, ttlSeconds: number): Promise<void> {
    await this.adapter.upsert(grantId, { ...context, grantId }, ttlSeconds);
  }

  async get(grantId: string | undefined): Promise<LaunchContext> {
    if (!grantId) return {};
    const stored = (await this.adapter.find(grantId)) as
      (LaunchContext & { jti?: string; grantId?: string }) | undefined;
    if (!stored) return {};
    const { jti: _j, grantId: _g, ...context } = stored;
    return context;
  }
}

export function splitScope(scope: string | undefined | null): string[] {
  return (scope ?? '').split(' ').filter((s) => s !== '');
}

/** What a token (or a grant being made) says about its holder, in the shape src/access reads. */
export function userPrincipal(
  user: LocalUser,
  clientId: string,
  scopes: readonly string[],
  context: LaunchContext,
  extra: { expiresAt?: string; tokenId?: string } = {},
): Principal {
  return {
    kind: 'user',
    clientId,
    scopes,
    username: user.username,
    ...(user.fhirUser && { fhirUser: user.fhirUser }),
    admin: user.admin,
    ...(context.patient && { patient: context.patient }),
    ...(context.encounter && { encounter: context.encounter }),
    ...(context.breakGlass && { breakGlass: context.breakGlass }),
    ...extra,
  };
}
