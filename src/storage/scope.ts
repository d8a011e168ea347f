import type { Executor } from './database';

type Row = Record<string, unknown>;

/** Rows per statement; keeps bind parameters far below PostgreSQL's 65,535 limit. */
const INSERT_CHUNK = 1000;

/**
 * State of one database transaction as seen by write hooks: checks that must run once all of
 * a transaction's writes are in (referential integrity across a transaction Bundle), and undo
 * steps for side effects outside the database (blobs written before a rollback).
 */
export class TxScope {
  private readonly commitChecks: (() => Promise<void>)[] = [];
  private readonly rollbacks: (() => Promise<void>)[] = [];
  private readonly bags = new Map<string, unknown>();
  /** Deferred inserts: owner ("Type/id" or a fixed key) -> table -> rows. */
  private readonly pending = new Map<string, Map<string, Row[]>>();

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

  /**
   * Queues rows to insert with the transaction's other writes to the same table, in one
   * statement per table. Embedded PGlite pays a fixed cost per statement, so a Bundle's
   * version, reference and index rows go in a handful of statements instead of hundreds.
   */
  insertLater(owner: string, table: string, rows: Row[]): void {
    if (rows.length === 0) return;
    let tables = this.pending.get(owner);
    if (!tables) {
      tables = new Map();
      this.pending.set(owner, tables);
    }
    const list = tables.get(table);
    if (list) list.push(...rows);
    else tables.set(table, [...rows]);
  }

  /** Drops queued rows of an owner (its index rows are superseded by a later write). */
  discardPending(owner: string): void {
    this.pending.delete(owner);
  }

  /** Writes every queued row; called before any read that must see them, and before commit. */
  async flush(exec: Executor): Promise<void> {
    if (this.pending.size === 0) return;
    const byTable = new Map<string, Row[]>();
    for (const tables of this.pending.values()) {
      for (const [table, rows] of tables) {
        const list = byTable.get(table);
        if (list) list.push(...rows);
        else byTable.set(table, [...rows]);
      }
    }
    this.pending.clear();
    for (const [table, rows] of byTable) {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await exec(table).insert(rows.slice(i, i + INSERT_CHUNK));
      }
    }
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
