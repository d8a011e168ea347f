import { badRequest, conflict } from '../shared';
import type { Executor, LocalReference, WriteEvent, WriteHook } from '../storage';
import { findReferrers } from '../storage';

interface Pending {
  refs: Map<string, LocalReference & { source: string }>;
  deleted: Set<string>;
}

/**
 * Referential integrity like HAPI's default: a write referencing a missing local resource is
 * rejected, and deleting a resource others reference is refused with 409 naming the referrers.
 * Checks run once per transaction, after all its writes, so a transaction Bundle may create
 * resources that reference each other in any order.
 */
export function createIntegrityHook(): WriteHook {
  return {
    afterWrite(event: WriteEvent): Promise<void> {
      const { scope, executor } = event;
      let first = false;
      const pending = scope.bag<Pending>('integrity', () => {
        first = true;
        return { refs: new Map(), deleted: new Set() };
      });
      const self = `${event.resourceType}/${event.id}`;
      if (event.kind === 'delete') pending.deleted.add(self);
      else {
        pending.deleted.delete(self);
        // An update only needs its new targets checked: deleting a target that is still referenced
        // is refused, so the targets the previous version already had are still there.
        const known = new Set((event.previousReferences ?? []).map((r) => `${r.targetType}/${r.targetId}`));
        for (const r of event.references) {
          const target = `${r.targetType}/${r.targetId}`;
          if (!known.has(target)) pending.refs.set(`${self} ${target}`, { ...r, source: self });
        }
      }
      if (first) {
        scope.beforeCommit(async () => {
          const refs = [...pending.refs.values()].filter((r) => `${r.targetType}/${r.targetId}` !== r.source);
          const existing = await liveTargets(executor, refs);
          for (const ref of refs) {
            const target = `${ref.targetType}/${ref.targetId}`;
            if (!existing.has(target))
              throw badRequest(`${ref.source} references ${target}, which does not exist`, ref.path);
          }
          for (const key of pending.deleted) {
            const [type, id] = key.split('/') as [string, string];
            const referrers = await findReferrers(executor, type, id, 10);
            if (referrers.length > 0) {
              throw conflict(`Cannot delete ${key}: it is referenced by ${referrers.join(', ')}`);
            }
          }
        });
      }
      return Promise.resolve();
    },
  };
}

/** Which referenced targets exist and are live, in one query per thousand distinct targets. */
async function liveTargets(exec: Executor, refs: LocalReference[]): Promise<Set<string>> {
  const targets = [...new Map(refs.map((r) => [`${r.targetType}/${r.targetId}`, r])).values()];
  const found = new Set<string>();
  for (let i = 0; i < targets.length; i += 1000) {
    const rows: { resource_type: string; id: string }[] = await exec('resource')
      .whereIn(
        ['resource_type', 'id'],
        targets.slice(i, i + 1000).map((r) => [r.targetType, r.targetId]),
      )
      .andWhere('deleted', false)
      .select('resource_type', 'id');
    for (const r of rows) found.add(`${r.resource_type}/${r.id}`);
  }
  return found;
}
