import type { TypedValue } from '@medplum/core';
import type { Period, Timing } from '@medplum/fhirtypes';
import type { IndexRow, IndexStrategy, SqlFragment } from './types';
import type { Prefix } from './util';
import { dateRange, requireDateRange, splitPrefix } from './util';

const NEG_INF = '-infinity';
const POS_INF = 'infinity';

function rangeRow(s: string | undefined): IndexRow | undefined {
  const r = s ? dateRange(s) : undefined;
  return r ? { low: r.low, high: r.high } : undefined;
}

function periodRow(p: Period): IndexRow | undefined {
  const start = p.start ? dateRange(p.start) : undefined;
  const end = p.end ? dateRange(p.end) : undefined;
  if (!start && !end) return undefined;
  return { low: start?.low ?? NEG_INF, high: end?.high ?? POS_INF };
}

/**
 * FHIR date matching compares the search value's implicit range [sLow, sHigh] with the indexed
 * range [low, high] (R4 search §3.1.1.5.3): eq means contained, gt/lt mean extends beyond, etc.
 */
export function dateCondition(
  prefix: Prefix,
  sLow: Date,
  sHigh: Date,
  low: string,
  high: string,
  now: Date,
): SqlFragment {
  switch (prefix) {
    case 'eq':
      return { sql: `(${low} >= ? AND ${high} <= ?)`, bindings: [sLow, sHigh] };
    case 'ne':
      return { sql: `NOT (${low} >= ? AND ${high} <= ?)`, bindings: [sLow, sHigh] };
    case 'gt':
      return { sql: `${high} > ?`, bindings: [sHigh] };
    case 'lt':
      return { sql: `${low} < ?`, bindings: [sLow] };
    case 'ge':
      return { sql: `(${high} > ? OR (${low} >= ? AND ${high} <= ?))`, bindings: [sHigh, sLow, sHigh] };
    case 'le':
      return { sql: `(${low} < ? OR (${low} >= ? AND ${high} <= ?))`, bindings: [sLow, sLow, sHigh] };
    case 'sa':
      return { sql: `${low} > ?`, bindings: [sHigh] };
    case 'eb':
      return { sql: `${high} < ?`, bindings: [sLow] };
    case 'ap': {
      // ±10% of the distance from now, at least a day, as an overlap test.
      const gap = Math.max(Math.abs(now.getTime() - sLow.getTime()) * 0.1, 86_400_000);
      return {
        sql: `(${low} <= ? AND ${high} >= ?)`,
        bindings: [new Date(sHigh.getTime() + gap), new Date(sLow.getTime() - gap)],
      };
    }
  }
}

export const dateStrategy: IndexStrategy = {
  type: 'date',
  table: 'sp_date',
  modifiers: ['missing'],
  extract(values: TypedValue[]): IndexRow[] {
    const rows: IndexRow[] = [];
    for (const { type, value } of values) {
      let r: IndexRow | undefined;
      if (type === 'Period') r = periodRow(value as Period);
      else if (type === 'Timing') {
        const t = value as Timing;
        for (const e of t.event ?? []) {
          const er = rangeRow(e);
          if (er) rows.push(er);
        }
        if (t.repeat?.boundsPeriod) r = periodRow(t.repeat.boundsPeriod);
      } else if (typeof value === 'string') r = rangeRow(value);
      if (r) rows.push(r);
    }
    return rows;
  },
  match(value, ctx) {
    const { prefix, rest } = splitPrefix(value);
    const r = requireDateRange(rest, ctx.def.code);
    return dateCondition(prefix, r.low, r.high, 'i.low', 'i.high', ctx.now);
  },
  sort: {
    asc: 'min(i.low)',
    desc: 'max(i.high)',
    sqlType: 'timestamptz',
    nullAsc: POS_INF,
    nullDesc: NEG_INF,
  },
};
