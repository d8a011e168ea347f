import { toTypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { IndexTable, WriteEvent, WriteHook } from '../storage';
import type { SearchParamRegistry } from './params';
import { COLUMN_PARAMS } from './params';
import type { IndexRow } from './strategies';
import { strategyFor } from './strategies';

/** Evaluates every SearchParameter's FHIRPath on a resource and returns the index rows per table. */
export function extractIndexRows(
  resource: Resource,
  registry: SearchParamRegistry,
  fhirBase: string,
): Map<IndexTable, IndexRow[]> {
  const out = new Map<IndexTable, IndexRow[]>();
  const input = [toTypedValue(resource)];
  for (const def of registry.forType(resource.resourceType).values()) {
    if (!def.expression || COLUMN_PARAMS.has(def.code)) continue;
    const strategy = strategyFor(def.type);
    if (!strategy) continue;
    let values;
    try {
      values = def.expression.eval({ variables: {} }, input);
    } catch {
      // An expression that cannot evaluate on this instance indexes nothing rather than failing the write.
      continue;
    }
    if (values.length === 0) continue;
    const seen = new Set<string>();
    const rows = out.get(strategy.table) ?? [];
    for (const row of strategy.extract(values, def, fhirBase)) {
      const key = JSON.stringify(row);
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push({
        resource_type: resource.resourceType,
        resource_id: resource.id ?? '',
        code: def.code,
        ...row,
      });
    }
    out.set(strategy.table, rows);
  }
  return out;
}

/**
 * Fills the search index inside the write's transaction, so search never sees a half-written
 * resource. On update only rows that differ from the previous version's are written.
 */
export function createSearchIndexer(registry: SearchParamRegistry, fhirBase: string): WriteHook {
  return {
    async afterWrite(event: WriteEvent): Promise<void> {
      if (!event.resource) return;
      const rows = extractIndexRows(event.resource, registry, fhirBase);
      const before = event.previous ? extractIndexRows(event.previous, registry, fhirBase) : undefined;
      for (const table of new Set([...rows.keys(), ...(before?.keys() ?? [])]))
        await event.queueRows(table, rows.get(table) ?? [], before && (before.get(table) ?? []));
    },
  };
}
