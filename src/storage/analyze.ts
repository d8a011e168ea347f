import type { Logger } from '../shared';
import type { Database } from './database';
import type { WriteHook } from './types';

/**
 * Embedded PGlite has no autovacuum, so the planner would keep the statistics of an empty
 * database and pick sequential scans at a million rows. This hook stands in for autoanalyze:
 * after enough writes (at least 1,000, or a tenth of what existed at the previous run) it
 * queues an ANALYZE, which runs after the current transaction on PGlite's single connection.
 */
export function createAnalyzeHook(db: Database, logger: Logger): WriteHook {
  let writes = 0;
  let threshold = 1000;
  let total = 0;
  let running = false;
  return {
    afterWrite(): Promise<void> {
      writes++;
      if (writes >= threshold && !running) {
        running = true;
        total += writes;
        writes = 0;
        threshold = Math.max(1000, Math.floor(total / 10));
        setImmediate(() => {
          db.raw('ANALYZE')
            .then(() => undefined)
            .catch((err: unknown) => {
              logger.warn({ errName: (err as Error).name }, 'ANALYZE failed');
            })
            .finally(() => {
              running = false;
            });
        });
      }
      return Promise.resolve();
    },
  };
}
