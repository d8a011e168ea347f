import type { TypedValue } from '@medplum/core';
import type { IndexRow, IndexStrategy } from './types';
import { escapeLike } from './util';

export const uriStrategy: IndexStrategy = {
  type: 'uri',
  table: 'sp_uri',
  modifiers: ['below', 'above', 'missing'],
  extract(values: TypedValue[]): IndexRow[] {
    return values.filter((v) => typeof v.value === 'string').map((v) => ({ value: v.value as string }));
  },
  match(value, ctx) {
    if (ctx.modifier === 'below') return { sql: 'i.value LIKE ?', bindings: [escapeLike(value) + '%'] };
    if (ctx.modifier === 'above') return { sql: "? LIKE (i.value || '%')", bindings: [value] };
    return { sql: 'i.value = ?', bindings: [value] };
  },
};
