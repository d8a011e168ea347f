import type { TypedValue } from '@medplum/core';
import type { Address, HumanName } from '@medplum/fhirtypes';
import type { IndexRow, IndexStrategy } from './types';
import { VALUE_SORT } from './types';
import { escapeLike, normalizeText } from './util';

function push(rows: IndexRow[], s: string | undefined): void {
  if (s) rows.push({ value: normalizeText(s).slice(0, 2000), exact: s.slice(0, 2000) });
}

export const stringStrategy: IndexStrategy = {
  type: 'string',
  table: 'sp_string',
  modifiers: ['exact', 'contains', 'missing'],
  extract(values: TypedValue[]): IndexRow[] {
    const rows: IndexRow[] = [];
    for (const { type, value } of values) {
      if (type === 'HumanName') {
        const n = value as HumanName;
        push(rows, n.text);
        push(rows, n.family);
        for (const g of [...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? [])]) push(rows, g);
      } else if (type === 'Address') {
        const a = value as Address;
        for (const s of [a.text, ...(a.line ?? []), a.city, a.district, a.state, a.postalCode, a.country])
          push(rows, s);
      } else if (typeof value === 'string') {
        push(rows, value);
      }
    }
    return rows;
  },
  match(value, ctx) {
    if (ctx.modifier === 'exact') return { sql: 'i.exact = ?', bindings: [value] };
    const needle = escapeLike(normalizeText(value));
    if (ctx.modifier === 'contains') return { sql: 'i.value LIKE ?', bindings: [`%${needle}%`] };
    return { sql: 'i.value LIKE ?', bindings: [`${needle}%`] };
  },
  sort: VALUE_SORT.text,
};
