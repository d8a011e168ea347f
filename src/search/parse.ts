import { badRequest } from '../shared';
import type { SearchParamDef, SearchParamRegistry } from './params';
import { COLUMN_PARAMS } from './params';
import { strategyFor } from './strategies';
import { isResourceType } from '@medplum/core';

export interface ParsedParam {
  def: SearchParamDef;
  modifier?: string;
  /** OR-ed values (comma-separated in the URL, escapes kept for the strategy). */
  values: string[];
  key: string;
  raw: string;
}

export interface SortRule {
  def: SearchParamDef;
  descending: boolean;
}

export interface Cursor {
  dir: 'next' | 'prev';
  keys: (string | null)[];
  id: string;
}

export interface SearchQuery {
  resourceType: string;
  params: ParsedParam[];
  sort: SortRule[];
  count: number;
  total: 'none' | 'estimate' | 'accurate' | undefined;
  summaryCount: boolean;
  cursor?: Cursor;
  /** Parameters ignored under lenient handling, reported back in an OperationOutcome. */
  ignored: { key: string; message: string }[];
}

export interface ParseOptions {
  strict: boolean;
  defaultCount: number;
  maxCount: number;
}

/** Result-shaping parameters handled by the FHIR layer; known here so strict mode accepts them. */
const SHAPING = new Set(['_summary', '_elements', '_format', '_pretty']);
const SORTABLE = new Set(['date', 'string', 'number', 'quantity', 'token']);

function splitOr(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (c === '\\' && value.charAt(i + 1) === ',') {
      cur += ',';
      i++;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.filter((v) => v !== '');
}

export function decodeCursor(raw: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Cursor;
    if ((c.dir === 'next' || c.dir === 'prev') && Array.isArray(c.keys) && typeof c.id === 'string') return c;
  } catch {
    // fall through
  }
  throw badRequest('Invalid paging cursor', '_cursor');
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
}

export function parseSearch(
  resourceType: string,
  query: [string, string][],
  registry: SearchParamRegistry,
  options: ParseOptions,
): SearchQuery {
  const result: SearchQuery = {
    resourceType,
    params: [],
    sort: [],
    count: options.defaultCount,
    total: undefined,
    summaryCount: false,
    ignored: [],
  };
  const reject = (key: string, why: string): void => {
    if (options.strict) throw badRequest(`${why} (Prefer: handling=strict)`, key);
    result.ignored.push({ key, message: why });
  };

  for (const [key, value] of query) {
    if (SHAPING.has(key)) {
      if (key === '_summary' && value === 'count') result.summaryCount = true;
      continue;
    }
    switch (key) {
      case '_count': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) throw badRequest(`Invalid _count '${value}'`, '_count');
        result.count = Math.min(n, options.maxCount);
        if (n === 0) result.summaryCount = true;
        continue;
      }
      case '_total':
        if (!['none', 'estimate', 'accurate'].includes(value))
          throw badRequest(`Invalid _total '${value}'`, '_total');
        result.total = value as SearchQuery['total'];
        continue;
      case '_cursor':
        result.cursor = decodeCursor(value);
        continue;
      case '_sort':
        for (const item of value.split(',').filter(Boolean)) {
          const descending = item.startsWith('-');
          const code = descending ? item.slice(1) : item;
          const def = registry.get(resourceType, code);
          if (!def || !(SORTABLE.has(def.type) || COLUMN_PARAMS.has(code))) {
            reject('_sort', `Cannot sort on '${code}'`);
            continue;
          }
          result.sort.push({ def, descending });
        }
        continue;
    }
    const [code = '', modifier, ...extra] = key.split(':');
    const def = registry.get(resourceType, code);
    if (!def || extra.length > 0 || code.includes('.')) {
      reject(key, `Unknown or unsupported search parameter '${key}' for ${resourceType}`);
      continue;
    }
    const strategy = strategyFor(def.type);
    if (!strategy && !COLUMN_PARAMS.has(code)) {
      reject(key, `Search parameter '${code}' of type ${def.type} is not supported yet`);
      continue;
    }
    if (modifier !== undefined) {
      const ok =
        modifier === 'missing' ||
        (COLUMN_PARAMS.has(code) ? false : strategy?.modifiers.includes(modifier)) ||
        (def.type === 'reference' && isResourceType(modifier));
      if (!ok) {
        reject(key, `Unsupported modifier ':${modifier}' on '${code}'`);
        continue;
      }
      if (modifier === 'missing' && value !== 'true' && value !== 'false') {
        throw badRequest(`:missing takes true or false`, key);
      }
    }
    const values = splitOr(value);
    if (values.length === 0) continue;
    result.params.push({ def, modifier, values, key, raw: value });
  }
  return result;
}
