import type { TypedValue } from '@medplum/core';
import type { CodeableConcept, Coding, ContactPoint, Identifier } from '@medplum/fhirtypes';
import { badRequest } from '../../shared';
import type { IndexRow, IndexStrategy } from './types';
import { VALUE_SORT } from './types';
import { escapeLike, normalizeText, splitEscaped } from './util';

function row(system: string | undefined, value: string | undefined, display?: string): IndexRow {
  return { system: system ?? null, value: value ?? null, display: display ? normalizeText(display) : null };
}

function codingRow(c: Coding): IndexRow {
  return row(c.system, c.code, c.display);
}

export const tokenStrategy: IndexStrategy = {
  type: 'token',
  table: 'sp_token',
  modifiers: ['not', 'text', 'missing'],
  extract(values: TypedValue[]): IndexRow[] {
    const rows: IndexRow[] = [];
    for (const { type, value } of values) {
      if (value === undefined || value === null) continue;
      switch (type) {
        case 'Coding':
          rows.push(codingRow(value as Coding));
          break;
        case 'CodeableConcept': {
          const cc = value as CodeableConcept;
          for (const c of cc.coding ?? []) rows.push(codingRow(c));
          if (cc.text) rows.push(row(undefined, undefined, cc.text));
          break;
        }
        case 'Identifier': {
          const id = value as Identifier;
          rows.push(row(id.system, id.value, id.type?.text));
          break;
        }
        case 'ContactPoint': {
          const cp = value as ContactPoint;
          rows.push(row(cp.system, cp.value));
          break;
        }
        case 'boolean':
          rows.push(row(undefined, value ? 'true' : 'false'));
          break;
        default:
          if (typeof value === 'string' || typeof value === 'number')
            rows.push(row(undefined, String(value)));
      }
    }
    return rows;
  },
  match(value, ctx) {
    if (ctx.modifier === 'text') {
      return { sql: 'i.display LIKE ?', bindings: [escapeLike(normalizeText(value)) + '%'] };
    }
    const negate = ctx.modifier === 'not';
    const parts = splitEscaped(value, '|');
    if (parts.length > 2) throw badRequest(`Invalid token '${value}' for ${ctx.def.code}`, ctx.def.code);
    if (parts.length === 1) return { sql: 'i.value = ?', bindings: [parts[0]], negate };
    const [system, code] = parts as [string, string];
    if (system === '' && code === '') throw badRequest(`Empty token for ${ctx.def.code}`, ctx.def.code);
    if (system === '') return { sql: 'i.system IS NULL AND i.value = ?', bindings: [code], negate };
    if (code === '') return { sql: 'i.system = ?', bindings: [system], negate };
    return { sql: 'i.system = ? AND i.value = ?', bindings: [system, code], negate };
  },
  sort: VALUE_SORT.text,
};
