import PgBoss from 'pg-boss';
import type { Logger } from '../shared';
import type { Knex } from 'knex';
import type { Database, Executor } from '../storage';
import { JOB_QUEUE_LOCK, withAdvisoryLock, withConnection } from '../storage';

/** A queue and how its jobs are retried; created (or updated) when the queue starts. */
export interface QueueSpec {
  name: string;
  retryLimit: number;
  /** Seconds before the first retry; doubled each time with backoff. */
  retryDelay: number;
  retryBackoff: boolean;
  /** An active job not finished by then is taken as lost (its worker died) and retried. */
  expireInSeconds: number;
}

export type JobStateName = 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed';

export interface JobStatus<T> {
  id: string;
  state: JobStateName;
  data: T;
  output: unknown;
  retryCount: number;
  createdOn: Date;
}

export interface Job<T> {
  id: string;
  data: T;
  /** Attempts before this one, and how many retries the queue allows. */
  retryCount: number;
  retryLimit: number;
}

/**
 * pg-boss runs its SQL on a connection of ours, taken from the executor's knex client: from the
 * pool for the queue's own work, or the connection of an open transaction, so a job is enqueued
 * in the same transaction as the write that causes it. One code path serves PostgreSQL and
 * embedded PGlite, where a second connection does not exist.
 */
function sqlOn(executor: Executor): PgBoss.Db {
  const pooled = !(executor as Partial<Knex.Transaction>).isTransaction;
  return {
    executeSql: (text: string, values?: unknown[]) =>
      withConnection(executor, async (conn) => {
        if (values && values.length > 0) return conn.query(text, values);
        try {
          // Without values pg-boss may send several statements: PGlite runs those with exec.
          if (conn.exec) return (await conn.exec(text)).at(-1) ?? { rows: [] };
          return await conn.query(text);
        } catch (err) {
          // A failed text of several statements stops inside its own BEGIN: the pooled connection
          // must not go back to the pool in an aborted transaction.
          if (pooled) await conn.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }),
  };
}

/** Durable jobs on pg-boss 10, in the same database as the resources. */
export class JobQueue {
  private readonly boss: PgBoss;
  private started = false;
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private readonly sleepers = new Set<() => void>();

  constructor(
    private readonly db: Database,
    schema: string,
    private readonly logger: Logger,
    private readonly pollingIntervalSeconds = 1,
    maintenanceIntervalSeconds = 120,
  ) {
    this.boss = new PgBoss({
      db: sqlOn(db),
      schema,
      supervise: true,
      schedule: false,
      maintenanceIntervalSeconds,
    });
    this.boss.on('error', (err: Error) => {
      // pg-boss reports its own maintenance failures here; they carry SQL, never job data.
      this.logger.error({ err: err.message }, 'job queue error');
    });
  }

  async start(queues: readonly QueueSpec[]): Promise<void> {
    // Processes starting together would race: pg-boss installs its schema when it finds none
    // (all but the first fail), and creating queues at once deadlocks. They take turns instead.
    await withAdvisoryLock(this.db, JOB_QUEUE_LOCK, async () => {
      await this.boss.start();
      for (const { name, ...options } of queues) {
        if (await this.boss.getQueue(name)) await this.boss.updateQueue(name, { name, ...options });
        else await this.boss.createQueue(name, { name, policy: 'standard', ...options });
      }
    });
    this.started = true;
  }

  /** Enqueues a job; with `tx`, inside that transaction (it exists only if the transaction commits). */
  async send(queue: string, data: object, options: { tx?: Executor; id?: string } = {}): Promise<string> {
    const id = await this.boss.send(queue, data, {
      ...(options.id && { id: options.id }),
      ...(options.tx && { db: sqlOn(options.tx) }),
    });
    if (!id) throw new Error(`The job queue refused a job for ${queue}`);
    return id;
  }

  /**
   * Runs `handler` for each job, `concurrency` at a time in this process. What it returns is kept
   * as the job's output; a throw is retried by the queue's policy.
   */
  async work<T>(
    queue: string,
    concurrency: number,
    handler: (job: Job<T>) => Promise<object | undefined>,
  ): Promise<void> {
    if (!this.started) throw new Error('The job queue is not started');
    for (let i = 0; i < concurrency; i++) this.loops.push(this.loop(queue, handler));
    return Promise.resolve();
  }

  /** How many jobs of a queue are waiting, retrying or running. */
  async pending(queue: string): Promise<number> {
    return (await this.boss.getQueueSize(queue, { before: 'completed' })) ?? 0;
  }

  /**
   * One worker: fetches the next job as soon as the last one is done, and waits the polling
   * interval only when the queue is empty. (pg-boss's own workers wait that interval after every
   * fetch, so a busy queue drained at one job per interval per worker.)
   */
  private async loop<T>(queue: string, handler: (job: Job<T>) => Promise<object | undefined>): Promise<void> {
    while (!this.stopping) {
      let job: PgBoss.JobWithMetadata<T> | undefined;
      try {
        [job] = await this.boss.fetch<T>(queue, { batchSize: 1, includeMetadata: true });
      } catch (err) {
        this.logger.error({ queue, err: (err as Error).message }, 'job fetch failed');
      }
      if (!job) {
        await this.idle();
        continue;
      }
      let outcome: { output: object | undefined } | { error: unknown };
      try {
        outcome = {
          output: await handler({
            id: job.id,
            data: job.data,
            retryCount: job.retryCount,
            retryLimit: job.retryLimit,
          }),
        };
      } catch (error) {
        outcome = { error };
      }
      try {
        if ('error' in outcome) await this.boss.fail(queue, job.id, outcome.error as object);
        else await this.boss.complete(queue, job.id, outcome.output);
      } catch (err) {
        // The job stays active; once it expires the queue runs it again.
        this.logger.error({ queue, err: (err as Error).message }, 'job completion failed');
      }
    }
  }

  /** Waits the polling interval, or until the queue stops. */
  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, this.pollingIntervalSeconds * 1000);
      this.sleepers.add(wake);
    });
  }

  async get<T>(queue: string, id: string): Promise<JobStatus<T> | undefined> {
    const job = await this.boss.getJobById<T>(queue, id, { includeArchive: true });
    if (!job) return undefined;
    const { output } = job as unknown as { output: unknown };
    return {
      id: job.id,
      state: job.state,
      data: job.data,
      output,
      retryCount: job.retryCount,
      createdOn: job.createdOn,
    };
  }

  async cancel(queue: string, id: string): Promise<void> {
    await this.boss.cancel(queue, id);
  }

  /** Stops fetching, lets running jobs finish (up to `timeoutMs`), then stops maintenance. */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.stopping = true;
    for (const wake of [...this.sleepers]) wake();
    let timer: NodeJS.Timeout | undefined;
    // A job still running after the timeout stays active in the queue and runs again once it expires.
    await Promise.race([
      Promise.all(this.loops),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    await this.boss.stop({ graceful: true, wait: true, close: false, timeout: timeoutMs });
  }
}
