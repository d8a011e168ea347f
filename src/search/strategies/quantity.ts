import type { TypedValue } from '@medplum/core';
import type { Quantity } from '@medplum/fhirtypes';
import { badRequest } from '../../shared';
import { numberCondition } from './number';
import { VALUE_SORT } from './types';
import type { IndexRow, IndexStrategy } from './types';
import { splitEscaped, splitPrefix } from './util';

export const quantityStrategy: IndexStrategy = {
  type: 'quantity',
  table: 'sp_quantity',
  modifiers: ['missing'],
  extract(values: TypedValue[]): IndexRow[] {
    const rows: IndexRow[] = [];
    for (const { value } of values) {
      const q = value as Quantity | undefined;
      if (q && typeof q.value === 'number' && Number.isFinite(q.value)) {
        rows.push({
          value: q.value,
          system: q.system ?? null,
          unit_code: q.code ?? null,
          unit: q.unit ?? null,
        });
      }
    }
    return rows;
  },
  match(value, ctx) {
    const parts = splitEscaped(value, '|');
    if (parts.length !== 1 && parts.length !== 3)
      throw badRequest(`Invalid quantity '${value}' for ${ctx.def.code}`, ctx.def.code);
    const { prefix, rest } = splitPrefix(parts[0] ?? '');
    const num = numberCondition(prefix, rest, 'i.value', ctx.def.code);
    const [, system, code] = parts;
    if (!code) return num;
    if (system)
      return {
        sql: `${num.sql} AND i.system = ? AND i.unit_code = ?`,
        bindings: [...num.bindings, system, code],
      };
    return { sql: `${num.sql} AND (i.unit_code = ? OR i.unit = ?)`, bindings: [...num.bindings, code, code] };
  },
  sort: VALUE_SORT.numeric,
};
