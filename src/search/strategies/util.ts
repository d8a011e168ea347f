import { badRequest } from '../../shared';

export const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
export type Prefix = (typeof PREFIXES)[number];

export function splitPrefix(value: string): { prefix: Prefix; rest: string } {
  const p = value.slice(0, 2) as Prefix;
  if (PREFIXES.includes(p) && /^[a-z]{2}[-+0-9.]/.test(value)) return { prefix: p, rest: value.slice(2) };
  return { prefix: 'eq', rest: value };
}

/** Case- and accent-insensitive form used for string search, as FHIR asks. */
export function normalizeText(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => '\\' + c);
}

/** Splits on unescaped `|` and unescapes `\|`, `\,`, `\$`, `\\`. */
export function splitEscaped(value: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (c === '\\' && i + 1 < value.length) {
      cur += value.charAt(++i);
    } else if (c === sep) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

const DATE_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The implicit range of a FHIR date/dateTime/instant at its precision, e.g. "2020-03" covers the
 * whole of March. Times without a zone are taken as UTC.
 */
export function dateRange(s: string): { low: Date; high: Date } | undefined {
  const m = DATE_RE.exec(s.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) - 1 : 0;
  const day = d ? Number(d) : 1;
  if (month > 11 || day > 31 || (h && Number(h) > 24) || (mi && Number(mi) > 59) || (sec && Number(sec) > 60))
    return undefined;
  const offsetMin =
    !tz || tz === 'Z'
      ? 0
      : (tz.startsWith('-') ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  const ms = frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0;
  const start =
    Date.UTC(year, month, day, h ? Number(h) : 0, mi ? Number(mi) : 0, sec ? Number(sec) : 0, ms) -
    offsetMin * 60000;
  let end: number;
  if (!mo) end = Date.UTC(year + 1, 0, 1);
  else if (!d) end = Date.UTC(year, month + 1, 1);
  else if (!h) end = Date.UTC(year, month, day + 1);
  else if (!sec) end = start + 60_000;
  else if (!frac) end = start + 1000;
  else end = start + 1;
  return { low: new Date(start), high: new Date(end - 1) };
}

export function requireDateRange(s: string, code: string): { low: Date; high: Date } {
  const r = dateRange(s);
  if (!r) throw badRequest(`Invalid date value '${s}' for search parameter ${code}`, code);
  return r;
}

/** Decimal with its implicit precision range: "100" → [99.5, 100.5), "1.50" → [1.495, 1.505). */
export function numberRange(s: string, code: string): { value: number; low: number; high: number } {
  if (!/^[-+]?(\d+(\.\d+)?|\.\d+)([eE][-+]?\d+)?$/.test(s))
    throw badRequest(`Invalid number '${s}' for search parameter ${code}`, code);
  const value = Number(s);
  if (/[eE]/.test(s)) return { value, low: value, high: value };
  const decimals = s.includes('.') ? s.length - s.indexOf('.') - 1 : 0;
  const half = 0.5 * Math.pow(10, -decimals);
  return { value, low: value - half, high: value + half };
}
