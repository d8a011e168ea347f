import type { Knex } from 'knex';
import type { Executor } from './database';

type Row = Record<string, unknown>;
type Statement = Pick<Knex.Sql, 'sql' | 'bindings'>;

/** Rows per INSERT; keeps bind parameters far below PostgreSQL's 65,535 limit. */
const INSERT_CHUNK = 1000;
/** Bind parameters per combined statement. */
const MAX_BINDINGS = 30_000;

/**
 * One INSERT of many rows with a single parameter: the rows as a JSON array, turned into rows of
 * the table's own type by json_populate_recordset. A VALUES list would bind every field (thousands
 * of parameters for one Bundle's index rows), which costs far more to build, send and parse.
 * Columns no row has keep their defaults; a column only some rows have is NULL in the others.
 */
function insertRows(table: string, rows: Row[]): Statement {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))].map((c) => `"${c}"`).join(', ');
  return {
    sql: `INSERT INTO "${table}" (${columns}) SELECT ${columns} FROM json_populate_recordset(NULL::"${table}", ?::json)`,
    bindings: [JSON.stringify(rows)],
  };
}

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
  /** Deferred updates of rows the transaction has locked, by table and key. */
  private readonly updates = new Map<string, { table: string; where: Row; row: Row }>();

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

  /**
   * Queues an update of a row this transaction already holds locked (read FOR UPDATE), to go out
   * with the queued inserts; a later update of the same row replaces it.
   */
  updateLater(table: string, where: Row, row: Row): void {
    this.updates.set(JSON.stringify([table, where]), { table, where, row });
  }

  /** Drops queued rows of an owner (its index rows are superseded by a later write). */
  discardPending(owner: string): void {
    this.pending.delete(owner);
  }

  /** Writes every queued row; called before any read that must see them, and before commit. */
  async flush(exec: Executor): Promise<void> {
    if (this.pending.size === 0 && this.updates.size === 0) return;
    const statements: Statement[] = [...this.updates.values()].map((u) =>
      exec(u.table).where(u.where).update(u.row).toSQL(),
    );
    this.updates.clear();
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
      for (let i = 0; i < rows.length; i += INSERT_CHUNK)
        statements.push(insertRows(table, rows.slice(i, i + INSERT_CHUNK)));
    }
    // Each statement costs a round trip (and, embedded, a parse and plan), so the updates and the
    // inserts into every table go out together as one statement of data-modifying CTEs.
    let batch: Statement[] = [];
    let bindings = 0;
    const send = async (): Promise<void> => {
      if (batch.length === 1 && batch[0]) await exec.raw(batch[0].sql, batch[0].bindings);
      else if (batch.length > 1)
        await exec.raw(
          `WITH ${batch.map((st, i) => `i${i} AS (${st.sql})`).join(', ')} SELECT 1`,
          batch.flatMap((st) => [...st.bindings]),
        );
      batch = [];
      bindings = 0;
    };
    for (const st of statements) {
      if (bindings + st.bindings.length > MAX_BINDINGS) await send();
      batch.push(st);
      bindings += st.bindings.length;
    }
    await send();
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
