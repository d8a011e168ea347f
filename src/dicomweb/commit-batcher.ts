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
 */
export class CommitBatcher<T, R> {
  private readonly queues = new Map<string, Waiter<T, R>[]>();

  constructor(private readonly commit: (key: string, items: T[]) => Promise<R>) {}

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
      await this.commitBatch(key, batch);
      batch = this.queues.get(key)?.splice(0) ?? [];
    }
    this.queues.delete(key);
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
