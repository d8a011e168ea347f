import { addDays } from '../dates';

/** Month names, lower case, January first. */
export const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];

/**
 * Moves a written date by whole days and writes it back in the same form ("01/05/2024",
 * "2024-01-05", "January 5, 2024", "5 January 2024"). Forms it cannot read give undefined: the
 * caller then replaces the date with a tag instead.
 */
export function shiftWrittenDate(surface: string, days: number): string | undefined {
  const shift = (y: number, m: number, d: number): Date | undefined => addDays(y, m, d, days);
  const pad = (n: number): string => String(n).padStart(2, '0');
  let m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(surface);
  if (m) {
    const d = shift(Number(m[3]), Number(m[1]), Number(m[2]));
    if (!d) return undefined;
    const mm = d.getUTCMonth() + 1;
    const dd = d.getUTCDate();
    return `${m[1]?.length === 2 ? pad(mm) : mm}/${m[2]?.length === 2 ? pad(dd) : dd}/${d.getUTCFullYear()}`;
  }
  m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(surface);
  if (m) return shift(Number(m[1]), Number(m[2]), Number(m[3]))?.toISOString().slice(0, 10);
  m = /^([A-Za-z]+)\.? (\d{1,2}),? (\d{4})$/.exec(surface);
  const month = (name: string | undefined): number =>
    MONTHS.findIndex((x) => name !== undefined && name.length >= 3 && x.startsWith(name.toLowerCase())) + 1;
  if (m && month(m[1]) > 0) {
    const d = shift(Number(m[3]), month(m[1]), Number(m[2]));
    const name = MONTHS[d?.getUTCMonth() ?? 0] ?? '';
    const word = (m[1]?.length ?? 0) > 3 ? name : name.slice(0, 3);
    return d && `${word.charAt(0).toUpperCase()}${word.slice(1)} ${d.getUTCDate()}, ${d.getUTCFullYear()}`;
  }
  m = /^(\d{1,2}) ([A-Za-z]+) (\d{4})$/.exec(surface);
  if (m && month(m[2]) > 0) {
    const d = shift(Number(m[3]), month(m[2]), Number(m[1]));
    const name = MONTHS[d?.getUTCMonth() ?? 0] ?? '';
    return d && `${d.getUTCDate()} ${name.charAt(0).toUpperCase()}${name.slice(1)} ${d.getUTCFullYear()}`;
  }
  return undefined;
}
