import type { TypedValue } from '@medplum/core';
import type { IndexTable } from '../../storage';
import type { SearchParamDef } from '../params';

export interface SqlFragment {
  sql: string;
  bindings: unknown[];
}

export interface MatchContext {
  def: SearchParamDef;
  modifier?: string;
  fhirBase: string;
  now: Date;
}

export type IndexRow = Record<string, string | number | Date | null>;

/**
 * How one SearchParameter type is indexed and matched. The query builder and the indexer only
 * talk to this interface; adding a type means adding a strategy, not editing branches elsewhere.
 */
export interface IndexStrategy {
  readonly type: 'token' | 'string' | 'date' | 'number' | 'quantity' | 'reference' | 'uri';
  readonly table: IndexTable;
  readonly modifiers: readonly string[];
  /** Index rows (without resource_type, resource_id, code) for the FHIRPath results. */
  extract(values: TypedValue[], def: SearchParamDef, fhirBase: string): IndexRow[];
  /**
   * Predicate over index alias `i` for one OR-value. `negate` asks the builder to wrap the
   * EXISTS in NOT (token :not). Throws a FhirError for a malformed value.
   */
  match(value: string, ctx: MatchContext): SqlFragment & { negate?: boolean };
  /** Aggregates over `i` giving the sort key, ascending and descending. */
  readonly sort?: SortSpec;
}

export interface SortSpec {
  asc: string;
  desc: string;
  sqlType: string;
  /** Sentinels that put resources without a value last in either direction. */
  nullAsc: string;
  nullDesc: string;
}

export const VALUE_SORT = {
  numeric: {
    asc: 'min(i.value)',
    desc: 'max(i.value)',
    sqlType: 'numeric',
    nullAsc: 'Infinity',
    nullDesc: '-Infinity',
  },
  text: { asc: 'min(i.value)', desc: 'max(i.value)', sqlType: 'text', nullAsc: '\u{10FFFF}', nullDesc: '' },
} as const satisfies Record<string, SortSpec>;
