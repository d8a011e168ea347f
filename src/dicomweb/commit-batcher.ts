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
 * Submissions still being received can be announced: a batch about to commit then waits for them
 * (at most `maxWaitMs`). Without that, an embedded database that answers without yielding to the
 * event loop lets no other request reach `submit` during a commit, and every batch holds one item.
 */
export class CommitBatcher<T, R> {
  private readonly queues = new Map<string, Waiter<T, R>[]>();
  private arriving = 0;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly commit: (key: string, items: T[]) => Promise<R>,
    private readonly maxWaitMs = 0,
  ) {}

  /** Announces a submission on its way; call the returned function once it was submitted or given up. */
  announce(): () => void {
    this.arriving++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.arriving--;
      for (const listener of [...this.listeners]) listener();
    };
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
      await this.gather();
      batch.push(...(this.queues.get(key)?.splice(0) ?? []));
      await this.commitBatch(key, batch);
      batch = this.queues.get(key)?.splice(0) ?? [];
    }
    this.queues.delete(key);
  }

  /** Waits until no announced submission is on its way, or maxWaitMs passed. */
  private async gather(): Promise<void> {
    const deadline = Date.now() + this.maxWaitMs;
    while (this.arriving > 0) {
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
