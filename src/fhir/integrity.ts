import { badRequest, conflict } from '../shared';
import type { LocalReference, WriteEvent, WriteHook } from '../storage';
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
        for (const r of event.references)
          pending.refs.set(`${self} ${r.targetType}/${r.targetId}`, { ...r, source: self });
      }
      if (first) {
        scope.beforeCommit(async () => {
          for (const ref of pending.refs.values()) {
            const target = `${ref.targetType}/${ref.targetId}`;
            if (target === ref.source) continue;
            const row: unknown = await executor('resource')
              .where({ resource_type: ref.targetType, id: ref.targetId, deleted: false })
              .first('id');
            if (!row) throw badRequest(`${ref.source} references ${target}, which does not exist`, ref.path);
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
