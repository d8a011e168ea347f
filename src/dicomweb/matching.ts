import type { Knex } from 'knex';
import { FhirError } from '../shared';
import { nameWords } from './store';

/**
 * How one matching key becomes SQL (PS3.4 C.2.2.2): a union of strategies, chosen per attribute
 * by the column map of each query level.
 */
export type MatchKind =
  'uidList' | 'wildcard' | 'personName' | 'dateRange' | 'timeRange' | 'integer' | 'exact';

export interface MatchColumn {
  column: string;
  kind: MatchKind;
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function wildcardPattern(value: string): string {
  return escapeLike(value).replace(/\*/g, '%').replace(/\?/g, '_');
}

function hasWildcard(value: string): boolean {
  return /[*?]/.test(value);
}

/** Adds the predicate for one key to the query. `fuzzy` applies to person names. */
export function applyMatch(
  q: Knex.QueryBuilder,
  { column, kind }: MatchColumn,
  value: string,
  fuzzy: boolean,
  key: string,
): void {
  switch (kind) {
    case 'uidList': {
      const uids = value
        .split(/[\\,]/)
        .map((s) => s.trim())
        .filter((s) => s !== '');
      void q.whereIn(column, uids);
      return;
    }
    case 'exact':
      if (hasWildcard(value)) void q.whereRaw(`${column} LIKE ? ESCAPE '\\'`, [wildcardPattern(value)]);
      else void q.where(column, value);
      return;
    case 'wildcard': {
      const upper = value.toUpperCase();
      if (hasWildcard(upper)) void q.whereRaw(`${column} LIKE ? ESCAPE '\\'`, [wildcardPattern(upper)]);
      else void q.where(column, upper);
      return;
    }
    case 'personName': {
      const upper = value.toUpperCase();
      if (fuzzy) {
        // Every word of the query must start some component of the name, in any order.
        const words = (nameWords(value.replace(/[*?]/g, ' ')) ?? '').trim().split(' ').filter(Boolean);
        for (const w of words) void q.whereRaw(`${column}_words LIKE ? ESCAPE '\\'`, [`% ${escapeLike(w)}%`]);
      } else if (hasWildcard(upper)) {
        void q.whereRaw(`${column} LIKE ? ESCAPE '\\'`, [wildcardPattern(upper)]);
      } else {
        void q.where(column, upper);
      }
      return;
    }
    case 'dateRange':
      rangeMatch(q, column, value, DATE, key);
      return;
    case 'timeRange':
      rangeMatch(q, column, value, TIME, key);
      return;
    case 'integer': {
      const n = Number(value);
      if (!Number.isInteger(n)) throw FhirError.of('invalid', `${key} must be an integer`);
      void q.where(column, n);
      return;
    }
  }
}

interface RangeShape {
  pattern: RegExp;
  /** The DICOM format, named in errors: clients often send ISO 8601 instead. */
  format: string;
}
const DATE: RangeShape = { pattern: /^\d{8}$/, format: 'YYYYMMDD' };
const TIME: RangeShape = {
  pattern: /^\d{2,6}(\.\d{1,6})?$/,
  format: 'HHMMSS (or HH, HHMM, HHMMSS.FFFFFF)',
};

/** DA/TM matching: a single value, or a range "from-to" with either side open (PS3.4 C.2.2.2.5). */
function rangeMatch(
  q: Knex.QueryBuilder,
  column: string,
  value: string,
  shape: RangeShape,
  key: string,
): void {
  const parts = value.split('-');
  const malformed = parts.length > 2 || parts.some((p) => p !== '' && !shape.pattern.test(p));
  if (malformed)
    throw FhirError.of(
      'invalid',
      `${key} '${value}' is malformed: use ${shape.format}, or a range from-to with either side open (DICOM PS3.4 C.2.2.2.5)`,
    );
  const [from = '', to = ''] = parts;
  if (parts.length === 1) {
    void q.where(column, 'like', `${escapeLike(from)}%`);
    return;
  }
  if (from) void q.where(column, '>=', from);
  // An upper bound is inclusive of everything it prefixes ("-1230" includes 123059.5).
  if (to) void q.where(column, '<=', `${to}\u{10FFFF}`);
}
