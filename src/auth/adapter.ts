import { createHash } from 'node:crypto';
import type { Clock } from '../shared';
import type { Database } from '../storage';
import type { Adapter, AdapterPayload } from './oidc';
import { errors } from './oidc';

const TABLE = 'auth_oidc';
/** Models whose rows are written once and never replaced: a second insert is a replay. */
const INSERT_ONLY = new Set(['ReplayDetection']);

/** Rows are keyed by a digest of the id: the ids of tokens, codes and sessions are bearer secrets. */
export function storageKey(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

interface Row {
  payload: string;
  consumed_at: Date | string | null;
}

/**
 * oidc-provider's storage on our database (PGlite or PostgreSQL, one table). `consume` is a
 * conditional update, so of two requests redeeming one code or refresh token at once exactly one
 * succeeds; client assertion ids (ReplayDetection) are inserted under the primary key, so a `jti`
 * is accepted once across API processes and restarts, whatever oidc-provider's find-then-save does.
 */
export class DatabaseAdapter implements Adapter {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly model: string,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    // The id is kept only as its digest; find() puts it back.
    const { jti: _jti, ...rest } = payload;
    const row = {
      model: this.model,
      id: storageKey(id),
      payload: JSON.stringify(rest),
      grant_id: payload.grantId ?? null,
      uid: payload.uid ?? null,
      user_code: payload.userCode ?? null,
      account_id: payload.accountId ?? null,
      expires_at: expiresIn ? new Date(this.clock.now().getTime() + expiresIn * 1000) : null,
    };
    if (INSERT_ONLY.has(this.model)) {
      const inserted = await this.db(TABLE).insert(row).onConflict(['model', 'id']).ignore().returning('id');
      if (inserted.length === 0)
        throw new errors.InvalidClientAuth('client assertion tokens must only be used once');
      return;
    }
    await this.db(TABLE).insert(row).onConflict(['model', 'id']).merge();
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.one({ model: this.model, id: storageKey(id) }, id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.one({ model: this.model, uid });
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.one({ model: this.model, user_code: userCode });
  }

  async consume(id: string): Promise<void> {
    const updated = await this.db(TABLE)
      .where({ model: this.model, id: storageKey(id) })
      .whereNull('consumed_at')
      .update({ consumed_at: this.clock.now() });
    if (updated === 0) throw new errors.InvalidGrant('grant already used');
  }

  async destroy(id: string): Promise<void> {
    await this.db(TABLE)
      .where({ model: this.model, id: storageKey(id) })
      .delete();
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db(TABLE).where({ model: this.model, grant_id: grantId }).delete();
  }

  private async one(where: Record<string, string>, id?: string): Promise<AdapterPayload | undefined> {
    const row = (await this.db(TABLE)
      .select('payload', 'consumed_at', 'id')
      .where(where)
      .andWhere((q) => {
        void q.whereNull('expires_at').orWhere('expires_at', '>', this.clock.now());
      })
      .first()) as (Row & { id: string }) | undefined;
    if (!row) return undefined;
    const payload = JSON.parse(row.payload) as AdapterPayload;
    // Every model but Client carries its id as jti; rows found by uid or user code have it in
    // the payload-less key only, so those lookups return no jti (oidc-provider does not need it).
    if (this.model !== 'Client' && id !== undefined) payload.jti = id;
    if (row.consumed_at) payload.consumed = Math.floor(new Date(row.consumed_at).getTime() / 1000);
    return payload;
  }
}

/** Deletes expired rows; run at start and periodically by every API process (harmless repeats). */
export async function removeExpired(db: Database, clock: Clock): Promise<number> {
  return db(TABLE).where('expires_at', '<=', clock.now()).delete();
}

/** Deletes everything held for a user (sessions, grants, codes, tokens): their login ends. */
export async function removeAccount(db: Database, accountId: string): Promise<void> {
  await db(TABLE).where({ account_id: accountId }).delete();
}
