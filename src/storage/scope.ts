/**
 * State of one database transaction as seen by write hooks: checks that must run once all of
 * a transaction's writes are in (referential integrity across a transaction Bundle), and undo
 * steps for side effects outside the database (blobs written before a rollback).
 */
export class TxScope {
  private readonly commitChecks: (() => Promise<void>)[] = [];
  private readonly rollbacks: (() => Promise<void>)[] = [];
  private readonly bags = new Map<string, unknown>();

  beforeCommit(fn: () => Promise<void>): void {
    this.commitChecks.push(fn);
  }

  onRollback(fn: () => Promise<void>): void {
    this.rollbacks.push(fn);
  }

  /** A per-transaction collection a hook can accumulate into, created on first use. */
  bag<T>(key: string, create: () => T): T {
    let v = this.bags.get(key) as T | undefined;
    if (v === undefined) {
      v = create();
      this.bags.set(key, v);
    }
    return v;
  }

  async runCommitChecks(): Promise<void> {
    // Checks may register further checks; run until none are left.
    while (this.commitChecks.length > 0) {
      const fn = this.commitChecks.shift();
      if (fn) await fn();
    }
  }

  async runRollbacks(): Promise<void> {
    for (const fn of this.rollbacks.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // Best effort: a failed cleanup must not mask the original error.
      }
    }
  }
}
