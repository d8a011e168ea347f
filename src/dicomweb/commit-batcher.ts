interface Waiter<T, R> {
  items: T[];
  resolve(result: R): void;
  reject(err: unknown): void;
}

/**
 * Group commit: while one batch for a key is being committed, later submissions for the same key
 * wait and are then committed together in one call. A modality sending a study instance by
 * instance on several connections thus costs one transaction (and one ImagingStudy version) per
 * batch instead of one per instance. If a combined batch fails, each submission is retried alone,
 * so one bad request cannot fail the others.
 *
 * Submissions still being received can be announced: a batch about to commit then waits (at most
 * `maxWaitMs`) for those that may join it, that is those whose key is not known yet and those of
 * its key. Without that, an embedded database that answers without yielding to the event loop
 * lets no other request reach `submit` during a commit, and every batch holds one item.
 */
export interface Arrival {
  /** The key this submission will be made under, once known. */
  keyed(key: string): void;
  /** Submitted, or given up. */
  done(): void;
}

export class CommitBatcher<T, R> {
  private readonly queues = new Map<string, Waiter<T, R>[]>();
  /** Announced submissions whose key is not known yet. */
  private unkeyed = 0;
  private readonly keyed = new Map<string, number>();
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly commit: (key: string, items: T[]) => Promise<R>,
    private readonly maxWaitMs = 0,
  ) {}

  /** Announces a submission on its way. */
  announce(): Arrival {
    this.unkeyed++;
    let key: string | undefined;
    let done = false;
    return {
      keyed: (k) => {
        if (done || key !== undefined) return;
        key = k;
        this.unkeyed--;
        this.keyed.set(k, (this.keyed.get(k) ?? 0) + 1);
        this.wake();
      },
      done: () => {
        if (done) return;
        done = true;
        if (key === undefined) this.unkeyed--;
        else {
          const left = (this.keyed.get(key) ?? 1) - 1;
          if (left > 0) this.keyed.set(key, left);
          else this.keyed.delete(key);
        }
        this.wake();
      },
    };
  }

  private wake(): void {
    for (const listener of [...this.listeners]) listener();
  }

  submit(key: string, items: T[]): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const queue = this.queues.get(key);
      if (queue) {
        queue.push({ items, resolve, reject });
        return;
      }
      this.queues.set(key, []);
      void this.run(key, [{ items, resolve, reject }]);
    });
  }

  private async run(key: string, first: Waiter<T, R>[]): Promise<void> {
    let batch = first;
    while (batch.length > 0) {
      await this.gather(key);
      batch.push(...(this.queues.get(key)?.splice(0) ?? []));
      await this.commitBatch(key, batch);
      batch = this.queues.get(key)?.splice(0) ?? [];
    }
    this.queues.delete(key);
  }

  /** Waits until no announced submission that may join this key's batch is on its way, or maxWaitMs passed. */
  private async gather(key: string): Promise<void> {
    const deadline = Date.now() + this.maxWaitMs;
    while (this.unkeyed > 0 || this.keyed.has(key)) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.listeners.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.listeners.add(wake);
      });
    }
  }

  private async commitBatch(key: string, batch: Waiter<T, R>[]): Promise<void> {
    try {
      const result = await this.commit(
        key,
        batch.flatMap((w) => w.items),
      );
      for (const w of batch) w.resolve(result);
    } catch (err) {
      if (batch.length === 1) {
        batch[0]?.reject(err);
        return;
      }
      for (const w of batch) await this.commitBatch(key, [w]);
    }
  }
}
