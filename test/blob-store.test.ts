import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BlobTooLargeError, FileBlobStore } from '../src/storage';

let root: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'blobs-'));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

test('a streamed put hands back the bytes it wrote when asked, and only then', async () => {
  const store = new FileBlobStore(root);
  const chunks = [Buffer.from('first chunk, '), Buffer.from('second chunk')];
  const kept = await store.put(Readable.from(chunks), { keepBytes: 1024 });
  expect(kept.bytes?.toString()).toBe('first chunk, second chunk');
  expect((await store.readAll(kept.key)).toString()).toBe('first chunk, second chunk');
  const plain = await store.put(Readable.from([Buffer.from('other')]));
  expect(plain.bytes).toBeUndefined();
});

test('data over the keep limit is written as it arrives and not handed back', async () => {
  const store = new FileBlobStore(root);
  const chunks = ['one ', 'two ', 'three'].map((c) => Buffer.from(c));
  const big = await store.put(Readable.from(chunks), { keepBytes: 6 });
  expect(big.bytes).toBeUndefined();
  expect(big.size).toBe(13);
  const reader = await store.open(big.key);
  expect(reader.size).toBe(13);
  expect((await reader.read(4, 100)).toString()).toBe('two three');
  await reader.close();
  const small = await store.put(Readable.from(chunks.slice(0, 1)), { keepBytes: 6 });
  expect(small.bytes?.toString()).toBe('one ');
});

test('directories removed behind the store are made again on the next put', async () => {
  const store = new FileBlobStore(root);
  await store.put(Buffer.from('one'));
  await fs.rm(root, { recursive: true, force: true });
  const streamed = await store.put(Readable.from([Buffer.from('two')]));
  expect((await store.readAll(streamed.key)).toString()).toBe('two');
  await fs.rm(root, { recursive: true, force: true });
  const buffered = await store.put(Buffer.from('three'));
  expect((await store.readAll(buffered.key)).toString()).toBe('three');
});

test.each([true, false])(
  'a put over the size limit fails and leaves no file behind (keepBytes %s)',
  async (keepBytes) => {
    const store = new FileBlobStore(root);
    await expect(
      store.put(Readable.from([Buffer.alloc(10), Buffer.alloc(10)]), {
        maxBytes: 15,
        keepBytes: keepBytes ? 1024 : undefined,
      }),
    ).rejects.toBeInstanceOf(BlobTooLargeError);
    const left = await fs.readdir(path.join(root, 'tmp')).catch(() => []);
    expect(left).toEqual([]);
    await expect(fs.readdir(path.join(root, 'sha256'))).rejects.toMatchObject({ code: 'ENOENT' });
  },
);
