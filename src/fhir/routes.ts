import type { FhirMethod, FhirRequest } from './types';

export type Interaction =
  | 'capabilities'
  | 'batch'
  | 'history-system'
  | 'search-type'
  | 'create'
  | 'conditional-update'
  | 'conditional-patch'
  | 'conditional-delete'
  | 'history-type'
  | 'operation-type'
  | 'read'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'vread'
  | 'operation-instance'
  | 'operation-system'
  | 'async-status'
  | 'async-cancel';

export interface Route {
  interaction: Interaction;
  params: NonNullable<FhirRequest['params']>;
}

/**
 * Maps method + path (below the FHIR base) to an interaction. Returns `undefined` for an
 * unknown path and `'method'` when the path exists but not for this method (405).
 */
export function resolveRoute(method: FhirMethod, path: string): Route | 'method' | undefined {
  const parts = path.split('/').filter((p) => p !== '');
  const m = method === 'HEAD' ? 'GET' : method;
  const pick = (
    table: Partial<Record<FhirMethod, Interaction>>,
    params: Route['params'],
  ): Route | 'method' => {
    const interaction = table[m];
    return interaction ? { interaction, params } : 'method';
  };
  const [a, b, c, d] = parts;
  switch (parts.length) {
    case 0:
      return pick({ POST: 'batch' }, {});
    case 1:
      if (a === 'metadata') return pick({ GET: 'capabilities' }, {});
      if (a === '_history') return pick({ GET: 'history-system' }, {});
      // System-level operations take their input in the body only (de-identification input is PHI).
      if (a?.startsWith('$')) return pick({ POST: 'operation-system' }, { operation: a.slice(1) });
      return pick(
        {
          GET: 'search-type',
          POST: 'create',
          PUT: 'conditional-update',
          PATCH: 'conditional-patch',
          DELETE: 'conditional-delete',
        },
        { type: a },
      );
    case 2:
      if (a === '_async') return pick({ GET: 'async-status', DELETE: 'async-cancel' }, { id: b });
      if (b === '_search') return pick({ POST: 'search-type' }, { type: a });
      if (b === '_history') return pick({ GET: 'history-type' }, { type: a });
      if (b?.startsWith('$'))
        return pick({ GET: 'operation-type', POST: 'operation-type' }, { type: a, operation: b.slice(1) });
      return pick({ GET: 'read', PUT: 'update', PATCH: 'patch', DELETE: 'delete' }, { type: a, id: b });
    case 3:
      if (c === '_history') return pick({ GET: 'history-instance' }, { type: a, id: b });
      if (c?.startsWith('$'))
        return pick(
          { GET: 'operation-instance', POST: 'operation-instance' },
          { type: a, id: b, operation: c.slice(1) },
        );
      return undefined;
    case 4:
      if (c === '_history') return pick({ GET: 'vread' }, { type: a, id: b, vid: d });
      return undefined;
    default:
      return undefined;
  }
}
