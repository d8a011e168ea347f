import type { TypedValue } from '@medplum/core';
import { VALUE_SORT } from './types';
import type { IndexRow, IndexStrategy, SqlFragment } from './types';
import type { Prefix } from './util';
import { numberRange, splitPrefix } from './util';

/** Shared by number and quantity: prefix semantics over a numeric column with implicit precision. */
export function numberCondition(prefix: Prefix, raw: string, column: string, code: string): SqlFragment {
  const { value, low, high } = numberRange(raw, code);
  switch (prefix) {
    case 'eq':
      return { sql: `(${column} >= ? AND ${column} < ?)`, bindings: [low, high] };
    case 'ne':
      return { sql: `NOT (${column} >= ? AND ${column} < ?)`, bindings: [low, high] };
    case 'gt':
    case 'sa':
      return { sql: `${column} > ?`, bindings: [value] };
    case 'lt':
    case 'eb':
      return { sql: `${column} < ?`, bindings: [value] };
    case 'ge':
      return { sql: `${column} >= ?`, bindings: [value] };
    case 'le':
      return { sql: `${column} <= ?`, bindings: [value] };
    case 'ap': {
      const d = Math.abs(value) * 0.1;
      return { sql: `(${column} >= ? AND ${column} <= ?)`, bindings: [value - d, value + d] };
    }
  }
}

export const numberStrategy: IndexStrategy = {
  type: 'number',
  table: 'sp_number',
  modifiers: ['missing'],
  extract(values: TypedValue[]): IndexRow[] {
    return values
      .filter((v) => typeof v.value === 'number' && Number.isFinite(v.value))
      .map((v) => ({ value: v.value as number }));
  },
  match(value, ctx) {
    const { prefix, rest } = splitPrefix(value);
    return numberCondition(prefix, rest, 'i.value', ctx.def.code);
  },
  sort: VALUE_SORT.numeric,
};
