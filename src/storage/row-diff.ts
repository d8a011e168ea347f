import type { Knex } from 'knex';
import type { Executor } from './database';

type Row = Record<string, unknown>;

/** Rows per DELETE statement; each row binds one parameter per column. */
const DELETE_CHUNK = 100;

/** Rows of `next` not in `prev` (to insert) and of `prev` not in `next` (to delete), by value. */
export function diffRows(prev: Row[], next: Row[]): { added: Row[]; removed: Row[] } {
  const key = (r: Row): string => JSON.stringify(r);
  const before = new Map(prev.map((r) => [key(r), r]));
  const after = new Map(next.map((r) => [key(r), r]));
  return {
    added: [...after].filter(([k]) => !before.has(k)).map(([, r]) => r),
    removed: [...before].filter(([k]) => !after.has(k)).map(([, r]) => r),
  };
}

/**
 * Deletes exactly these rows (every column compared, NULL equal to NULL). Used when a resource
 * is updated: only the index rows that changed are touched, so adding one instance to a large
 * ImagingStudy does not rewrite all its other rows.
 */
export async function deleteRows(exec: Executor, table: string, rows: Row[]): Promise<void> {
  for (let i = 0; i < rows.length; i += DELETE_CHUNK) {
    const chunk = rows.slice(i, i + DELETE_CHUNK);
    const bindings: Knex.Value[] = [];
    const conditions = chunk.map((row) => {
      const cols = Object.keys(row);
      for (const c of cols) bindings.push((row[c] ?? null) as Knex.Value);
      return `(${cols.map((c) => `"${c}" IS NOT DISTINCT FROM ?`).join(' AND ')})`;
    });
    await exec.raw(`DELETE FROM ${table} WHERE ${conditions.join(' OR ')}`, bindings);
  }
}
