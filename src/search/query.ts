import type { Knex } from 'knex';
import type { Executor } from '../storage';
import type { Cursor, ParsedParam, SearchQuery } from './parse';
import type { SqlFragment } from './strategies';
import { dateCondition, strategyFor } from './strategies';
import { splitPrefix, requireDateRange } from './strategies/util';

export interface SearchContext {
  fhirBase: string;
  now: Date;
}

export interface SearchPage {
  /** Stored JSON of each match, in order. */
  contents: string[];
  total?: number;
  next?: Cursor;
  prev?: Cursor;
}

interface SortKey {
  /** SQL expression over alias r giving a non-null key. */
  expr: string;
  bindings: unknown[];
  sqlType: string;
  descending: boolean;
}

function conditionFor(p: ParsedParam, ctx: SearchContext): SqlFragment {
  const code = p.def.code;
  if (code === '_id') {
    return { sql: `r.id IN (${p.values.map(() => '?').join(',')})`, bindings: p.values };
  }
  if (code === '_lastUpdated') {
    const parts = p.values.map((v) => {
      const { prefix, rest } = splitPrefix(v);
      const r = requireDateRange(rest, code);
      return dateCondition(prefix, r.low, r.high, 'r.last_updated', 'r.last_updated', ctx.now);
    });
    return orFragments(parts);
  }
  const strategy = strategyFor(p.def.type);
  if (!strategy) throw new Error(`No strategy for ${p.def.type}`);
  const head = `FROM ${strategy.table} i WHERE i.resource_type = r.resource_type AND i.resource_id = r.id AND i.code = ?`;
  if (p.modifier === 'missing') {
    const missing = p.values[0] === 'true';
    return { sql: `${missing ? 'NOT ' : ''}EXISTS (SELECT 1 ${head})`, bindings: [code] };
  }
  const matches = p.values.map((v) =>
    strategy.match(v, { def: p.def, modifier: p.modifier, fhirBase: ctx.fhirBase, now: ctx.now }),
  );
  const negate = matches.some((m) => m.negate);
  const inner = orFragments(matches);
  return {
    sql: `${negate ? 'NOT ' : ''}EXISTS (SELECT 1 ${head} AND ${inner.sql})`,
    bindings: [code, ...inner.bindings],
  };
}

function orFragments(parts: SqlFragment[]): SqlFragment {
  if (parts.length === 1 && parts[0]) return { sql: `(${parts[0].sql})`, bindings: parts[0].bindings };
  return {
    sql: `(${parts.map((p) => `(${p.sql})`).join(' OR ')})`,
    bindings: parts.flatMap((p) => p.bindings),
  };
}

function sortKeys(query: SearchQuery): SortKey[] {
  return query.sort.flatMap((rule): SortKey[] => {
    const code = rule.def.code;
    if (code === '_id') return [];
    if (code === '_lastUpdated') {
      return [{ expr: 'r.last_updated', bindings: [], sqlType: 'timestamptz', descending: rule.descending }];
    }
    const strategy = strategyFor(rule.def.type);
    const sort = strategy?.sort;
    if (!strategy || !sort) return [];
    // Missing values sort last in either direction, via a sentinel so keyset paging stays total.
    const agg = rule.descending ? sort.desc : sort.asc;
    const sentinel = rule.descending ? sort.nullDesc : sort.nullAsc;
    return [
      {
        expr: `coalesce((SELECT ${agg} FROM ${strategy.table} i WHERE i.resource_type = r.resource_type AND i.resource_id = r.id AND i.code = ?), ?::${sort.sqlType})`,
        bindings: [code, sentinel],
        sqlType: sort.sqlType,
        descending: rule.descending,
      },
    ];
  });
}

/** Keyset predicate "after the cursor row" in the page's own order (tie-breaker: id ascending). */
function keysetCondition(
  keys: SortKey[],
  idDescending: boolean,
  cursor: Cursor,
  reverse: boolean,
): SqlFragment {
  const ors: string[] = [];
  const bindings: unknown[] = [];
  const cols = [
    ...keys.map((k, n) => ({ col: `q.s${n}`, cast: k.sqlType, desc: k.descending })),
    { col: 'q.id', cast: 'text', desc: idDescending },
  ];
  const vals = [...cursor.keys, cursor.id];
  for (let j = 0; j < cols.length; j++) {
    const terms: string[] = [];
    for (let k = 0; k < j; k++) {
      const c = cols[k];
      if (!c) continue;
      terms.push(`${c.col} = ?::${c.cast}`);
      bindings.push(vals[k]);
    }
    const c = cols[j];
    if (!c) continue;
    const greater = c.desc !== reverse;
    terms.push(`${c.col} ${greater ? '<' : '>'} ?::${c.cast}`);
    bindings.push(vals[j]);
    ors.push(`(${terms.join(' AND ')})`);
  }
  return { sql: `(${ors.join(' OR ')})`, bindings };
}

function applyFilters(qb: Knex.QueryBuilder, query: SearchQuery, ctx: SearchContext): void {
  void qb.where('r.resource_type', query.resourceType).andWhere('r.deleted', false);
  for (const p of query.params) {
    const f = conditionFor(p, ctx);
    void qb.whereRaw(f.sql, f.bindings as Knex.RawBinding[]);
  }
}

export async function countMatches(exec: Executor, query: SearchQuery, ctx: SearchContext): Promise<number> {
  const qb = exec('resource as r');
  applyFilters(qb, query, ctx);
  const row: { count?: string | number } | undefined = await qb.count('* as count').first();
  return Number(row?.count ?? 0);
}

export async function executeSearch(
  exec: Executor,
  query: SearchQuery,
  ctx: SearchContext,
): Promise<SearchPage> {
  const keys = sortKeys(query);
  const idRule = query.sort.find((s) => s.def.code === '_id');
  const idDescending = idRule?.descending ?? false;
  const reverse = query.cursor?.dir === 'prev';

  // Sorting carries ids only; the page's content is fetched afterwards for its few rows.
  const inner = exec('resource as r').select('r.id');
  keys.forEach((k, n) => void inner.select(exec.raw(`${k.expr} AS s${n}`, k.bindings as Knex.RawBinding[])));
  applyFilters(inner, query, ctx);

  const outer = exec.from(inner.as('q')).select('q.*');
  if (query.cursor) {
    if (query.cursor.keys.length !== keys.length) throw new Error('Cursor does not match the sort');
    const ks = keysetCondition(keys, idDescending, query.cursor, reverse);
    void outer.whereRaw(ks.sql, ks.bindings as Knex.RawBinding[]);
  }
  keys.forEach((k, n) => void outer.orderBy(`q.s${n}`, k.descending !== reverse ? 'desc' : 'asc'));
  void outer.orderBy('q.id', idDescending !== reverse ? 'desc' : 'asc');
  void outer.limit(query.count + 1);

  const rows = (await outer) as Record<string, unknown>[];
  const hasMore = rows.length > query.count;
  const page = rows.slice(0, query.count);
  if (reverse) page.reverse();

  const cursorOf = (row: Record<string, unknown> | undefined, dir: Cursor['dir']): Cursor | undefined =>
    row ? { dir, id: String(row.id), keys: keys.map((_k, n) => keyString(row[`s${n}`])) } : undefined;
  const first = page[0];
  const last = page[page.length - 1];
  const ids = page.map((r) => String(r.id));
  const contentRows: { id: string; content: string }[] =
    ids.length > 0
      ? await exec('resource')
          .where('resource_type', query.resourceType)
          .whereIn('id', ids)
          .select('id', 'content')
      : [];
  const byId = new Map(contentRows.map((r) => [r.id, r.content]));
  return {
    contents: ids.flatMap((id) => {
      const c = byId.get(id);
      return c === undefined ? [] : [c];
    }),
    next: reverse ? cursorOf(last, 'next') : hasMore ? cursorOf(last, 'next') : undefined,
    prev: reverse
      ? hasMore
        ? cursorOf(first, 'prev')
        : undefined
      : query.cursor
        ? cursorOf(first, 'prev')
        : undefined,
  };
}

function keyString(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  return typeof v === 'number' || typeof v === 'string' ? String(v) : JSON.stringify(v);
}
