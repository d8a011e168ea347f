import { CommitBatcher } from '../src/dicomweb/commit-batcher';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A batcher that records what each commit received. */
function recording(maxWaitMs: number): { calls: string[][]; batcher: CommitBatcher<string, void> } {
  const calls: string[][] = [];
  const batcher = new CommitBatcher<string, void>((_key, items) => {
    calls.push(items);
    return Promise.resolve();
  }, maxWaitMs);
  return { calls, batcher };
}

test('submissions arriving during a commit are committed together in the next one', async () => {
  const calls: string[][] = [];
  const gate = deferred();
  const batcher = new CommitBatcher<string, string>(async (_key, items) => {
    calls.push(items);
    if (calls.length === 1) await gate.promise;
    return items.join();
  });
  const first = batcher.submit('study', ['a']);
  await new Promise((r) => setImmediate(r));
  expect(calls).toEqual([['a']]);
  const second = batcher.submit('study', ['b']);
  const third = batcher.submit('study', ['c', 'd']);
  const other = batcher.submit('other', ['x']);
  gate.resolve();
  expect(await first).toBe('a');
  expect(await second).toBe('b,c,d');
  expect(await third).toBe('b,c,d');
  await other;
  expect(calls).toEqual([['a'], ['x'], ['b', 'c', 'd']]);
});

test('a failed combined commit is retried per submission, so only the bad one fails', async () => {
  const gate = deferred();
  let n = 0;
  const batcher = new CommitBatcher<string, void>(async (_key, items) => {
    if (n++ === 0) await gate.promise;
    if (items.includes('bad')) throw new Error('constraint violated');
  });
  const first = batcher.submit('s', ['ok1']);
  await new Promise((r) => setImmediate(r));
  const good = batcher.submit('s', ['ok2']);
  const bad = batcher.submit('s', ['bad']);
  gate.resolve();
  await expect(first).resolves.toBeUndefined();
  await expect(good).resolves.toBeUndefined();
  await expect(bad).rejects.toThrow('constraint violated');
});

test('a commit waits for announced submissions still on their way, and joins them', async () => {
  const { calls, batcher } = recording(60_000);
  const onTheWay = batcher.announce();
  const alsoOnTheWay = batcher.announce();
  const first = batcher.submit('study', ['a']);
  // Nothing commits while the others, whose keys are not known yet, are still being received.
  await new Promise((r) => setTimeout(r, 20));
  expect(calls).toEqual([]);
  const second = batcher.submit('study', ['b']);
  onTheWay.done();
  onTheWay.done(); // ending twice counts once
  await new Promise((r) => setTimeout(r, 20));
  expect(calls).toEqual([]);
  // Known to be for this key: still waited for.
  alsoOnTheWay.keyed('study');
  await new Promise((r) => setTimeout(r, 20));
  expect(calls).toEqual([]);
  alsoOnTheWay.done();
  await Promise.all([first, second]);
  expect(calls).toEqual([['a', 'b']]);
});

test('a commit does not wait for submissions known to be for another key', async () => {
  const { calls, batcher } = recording(60_000);
  const elsewhere = batcher.announce();
  elsewhere.keyed('other study');
  await batcher.submit('study', ['a']);
  expect(calls).toEqual([['a']]);
  elsewhere.done();
});

test('announced submissions that never come delay a commit by at most maxWaitMs', async () => {
  const { calls, batcher } = recording(30);
  batcher.announce();
  await batcher.submit('study', ['a']);
  expect(calls).toEqual([['a']]);
});
