import type { AccessContext, AccessResolver, Clock } from '../shared';
import { FhirError } from '../shared';
import type { ChangeBus } from '../storage';
import { RESET } from '../storage';
import { storageKey } from './adapter';
import type { TokenVerifier } from './tokens';

/** How long a resolved context is reused at most (never beyond its notAfter or the token's expiry). */
export const ACCESS_CACHE_MS = 30_000;
const MAX_ENTRIES = 10_000;

interface Entry {
  context: AccessContext;
  until: number;
  tokenKey: string;
  grantId?: string;
  username?: string;
}

/** Why a token was refused: the caller answers 401 invalid_token. */
export class RejectedToken extends Error {}

/**
 * Bearer token → AccessContext, cached per token (by digest) for a short time. Entries go when the
 * change bus says a token, user or access changed (or `reset`, when messages may have been lost);
 * while the bus is unhealthy nothing is served from the cache.
 */
export class AccessCache {
  private readonly entries = new Map<string, Entry>();
  private readonly unsubscribe: (() => void)[];

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly resolver: AccessResolver,
    private readonly bus: ChangeBus,
    private readonly clock: Clock,
  ) {
    const on = (topic: string, match: (e: Entry, payload: string) => boolean): (() => void) =>
      bus.subscribe(topic, (payload) => {
        if (payload === RESET) this.entries.clear();
        else for (const [k, e] of this.entries) if (match(e, payload)) this.entries.delete(k);
      });
    this.unsubscribe = [
      on('token', (e, p) => e.grantId === p || e.tokenKey === p),
      on('user', (e, p) => e.username === p),
      on('access', () => true),
    ];
  }

  /** The caller's context; throws RejectedToken for any token that may not act now. */
  async access(token: string, fhirBase: string, address: string | undefined): Promise<AccessContext> {
    const key = `${fhirBase} ${storageKey(token)}`;
    const now = this.clock.now().getTime();
    const hit = this.entries.get(key);
    if (hit && hit.until > now && this.bus.healthy) return { ...hit.context, ...(address && { address }) };
    if (hit) this.entries.delete(key);

    const verified = await this.verifier.verify(token, fhirBase);
    if (!verified) throw new RejectedToken();
    let context: AccessContext;
    try {
      context = await this.resolver.resolve(verified.principal);
    } catch (err) {
      // The access layer says this principal may no longer act (an ended role, a missing fhirUser).
      if (err instanceof FhirError && err.status === 401) throw new RejectedToken();
      throw err;
    }
    const notAfter = context.notAfter ? Date.parse(context.notAfter) : Infinity;
    if (notAfter <= now) throw new RejectedToken();
    const until = Math.min(now + ACCESS_CACHE_MS, verified.exp * 1000, notAfter);
    if (this.bus.healthy) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value ?? '');
      this.entries.set(key, {
        context,
        until,
        tokenKey: verified.tokenKey,
        ...(verified.grantId && { grantId: verified.grantId }),
        ...(verified.username && { username: verified.username }),
      });
    }
    return { ...context, ...(address && { address }) };
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    this.entries.clear();
  }
}
