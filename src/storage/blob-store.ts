import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface BlobInfo {
  key: string;
  size: number;
  sha256: string;
}

export interface PutOptions {
  maxBytes?: number;
  /**
   * Also hand back the bytes written when there are at most this many, for a caller that reads
   * them next anyway. Larger data is written as it arrives and never held whole.
   */
  keepBytes?: number;
}

/** Random access to one stored blob. */
export interface BlobReader {
  size: number;
  /** Up to `length` bytes from `offset` (fewer at the end of the blob). */
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * Where bytes live (Binary content now, DICOM instances later). Keys are content-addressed
 * (sha256), so writing the same bytes twice is idempotent and a rolled-back write can be
 * undone by deleting the key if nothing else refers to it.
 */
export interface BlobStore {
  put(data: Buffer | Readable, options?: PutOptions): Promise<BlobInfo & { bytes?: Buffer }>;
  get(key: string): Promise<Readable>;
  readAll(key: string): Promise<Buffer>;
  open(key: string): Promise<BlobReader>;
  /**
   * The bytes of these [offset, length] ranges, concatenated (a frame's fragments, a bulk data
   * element), read without loading the rest of the file.
   */
  readRanges(key: string, ranges: readonly (readonly [number, number])[]): Promise<Buffer>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
}

export class BlobTooLargeError extends Error {}

/** Filesystem blob store under DATA_DIR/blobs; an S3-compatible one implements the same interface. */
export class FileBlobStore implements BlobStore {
  /** Directories known to exist. */
  private readonly made = new Set<string>();

  constructor(private readonly root: string) {}

  private pathOf(key: string): string {
    if (!/^sha256\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(key)) throw new Error('Invalid blob key');
    return path.join(this.root, key);
  }

  async put(data: Buffer | Readable, options: PutOptions = {}): Promise<BlobInfo & { bytes?: Buffer }> {
    const tmp = path.join(this.root, 'tmp', randomUUID());
    const hash = createHash('sha256');
    const max = options.maxBytes ?? Number.POSITIVE_INFINITY;
    const keep = options.keepBytes ?? -1;
    let size = 0;
    // Held until `keep` is passed; from then on each chunk goes to the file as it arrives.
    let held: Buffer[] = [];
    let file: FileHandle | undefined;
    try {
      for await (const chunk of Buffer.isBuffer(data) ? [data] : (data as AsyncIterable<Buffer>)) {
        size += chunk.length;
        if (size > max) throw new BlobTooLargeError(`Blob exceeds ${max} bytes`);
        hash.update(chunk);
        if (!file && size <= keep) {
          held.push(chunk);
          continue;
        }
        // Opened before the rest of the stream is read, so a missing directory can be made and retried.
        file ??= await this.inDir(tmp, () => fs.open(tmp, 'w'));
        for (const c of [...held, chunk]) await file.writeFile(c);
        held = [];
      }
      let bytes: Buffer | undefined;
      if (file) await file.close();
      else {
        const whole = held[0] && held.length === 1 ? held[0] : Buffer.concat(held);
        // Gathered and written once: far cheaper than a write per chunk for a typical instance.
        await this.inDir(tmp, () => fs.writeFile(tmp, whole));
        bytes = whole;
      }
      file = undefined;
      const sha256 = hash.digest('hex');
      const key = `sha256/${sha256.slice(0, 2)}/${sha256}`;
      const final = this.pathOf(key);
      await this.inDir(final, () => fs.rename(tmp, final));
      return { key, size, sha256, ...(bytes && size <= keep && { bytes }) };
    } catch (err) {
      await file?.close().catch(() => undefined);
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  /**
   * Runs a call that creates `file`, making its directory first the first time. Directories made
   * are remembered, so a write costs no mkdir; one removed behind the process's back is made again.
   */
  private async inDir<T>(file: string, create: () => Promise<T>): Promise<T> {
    const dir = path.dirname(file);
    if (!this.made.has(dir)) {
      await fs.mkdir(dir, { recursive: true });
      this.made.add(dir);
    }
    try {
      return await create();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.made.delete(dir);
      await fs.mkdir(dir, { recursive: true });
      this.made.add(dir);
      return create();
    }
  }

  get(key: string): Promise<Readable> {
    return Promise.resolve(createReadStream(this.pathOf(key)));
  }

  readAll(key: string): Promise<Buffer> {
    return fs.readFile(this.pathOf(key));
  }

  async open(key: string): Promise<BlobReader> {
    const handle = await fs.open(this.pathOf(key), 'r');
    const { size } = await handle.stat();
    return {
      size,
      async read(offset, length) {
        const buf = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
        const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
        return buf.subarray(0, bytesRead);
      },
      close: () => handle.close(),
    };
  }

  async readRanges(key: string, ranges: readonly (readonly [number, number])[]): Promise<Buffer> {
    const reader = await this.open(key);
    try {
      const chunks: Buffer[] = [];
      for (const [offset, length] of ranges) chunks.push(await reader.read(offset, length));
      return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    } finally {
      await reader.close();
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await fs.access(this.pathOf(key));
      return true;
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }
}
