import type { TypedValue } from '@medplum/core';
import type { Reference } from '@medplum/fhirtypes';
import { parseLocalReference } from '../../storage';
import type { IndexRow, IndexStrategy } from './types';

export const referenceStrategy: IndexStrategy = {
  type: 'reference',
  table: 'sp_reference',
  modifiers: ['missing', 'type'],
  extract(values: TypedValue[], _def, fhirBase): IndexRow[] {
    const rows: IndexRow[] = [];
    for (const { value } of values) {
      const ref = typeof value === 'string' ? value : (value as Reference | undefined)?.reference;
      if (!ref || ref.startsWith('#')) continue;
      const local = parseLocalReference(ref, fhirBase);
      if (local) rows.push({ target_type: local.type, target_id: local.id, url: null });
      else rows.push({ target_type: null, target_id: null, url: ref.split('|')[0] ?? ref });
    }
    return rows;
  },
  match(value, ctx) {
    const local = parseLocalReference(value, ctx.fhirBase);
    if (local) return { sql: 'i.target_type = ? AND i.target_id = ?', bindings: [local.type, local.id] };
    if (/^[A-Za-z0-9\-.]{1,64}$/.test(value)) {
      // A bare id: the :Type modifier or a single target type narrows it.
      const type = ctx.modifier ?? (ctx.def.targets.length === 1 ? ctx.def.targets[0] : undefined);
      if (type) return { sql: 'i.target_type = ? AND i.target_id = ?', bindings: [type, value] };
      return { sql: 'i.target_id = ?', bindings: [value] };
    }
    return { sql: 'i.url = ?', bindings: [value.split('|')[0] ?? value] };
  },
};
