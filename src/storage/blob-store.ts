import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';

export interface BlobInfo {
  key: string;
  size: number;
  sha256: string;
}

export interface PutOptions {
  maxBytes?: number;
  /** Also hand back the bytes written, for a caller that reads them next anyway. */
  keepBytes?: boolean;
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
    let size = 0;
    let bytes: Buffer | undefined;
    const max = options.maxBytes ?? Number.POSITIVE_INFINITY;
    const count = (n: number): void => {
      size += n;
      if (size > max) throw new BlobTooLargeError(`Blob exceeds ${max} bytes`);
    };
    try {
      if (Buffer.isBuffer(data) || options.keepBytes) {
        // The caller holds the whole part next anyway: gathering it and writing once costs far
        // less than a stream pipeline per part (three stream objects, a write per chunk).
        const chunks: Buffer[] = [];
        for await (const chunk of Buffer.isBuffer(data) ? [data] : (data as AsyncIterable<Buffer>)) {
          count(chunk.length);
          hash.update(chunk);
          chunks.push(chunk);
        }
        const whole = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        await this.inDir(tmp, () => fs.writeFile(tmp, whole));
        if (options.keepBytes) bytes = whole;
      } else {
        const meter = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            try {
              count(chunk.length);
            } catch (err) {
              cb(err as Error);
              return;
            }
            hash.update(chunk);
            cb(null, chunk);
          },
        });
        // Opened before the stream starts, so a missing directory can still be made and retried.
        const file = await this.inDir(tmp, () => fs.open(tmp, 'w'));
        await pipeline(data, meter, file.createWriteStream());
      }
      const sha256 = hash.digest('hex');
      const key = `sha256/${sha256.slice(0, 2)}/${sha256}`;
      const final = this.pathOf(key);
      await this.inDir(final, () => fs.rename(tmp, final));
      return { key, size, sha256, ...(bytes && { bytes }) };
    } catch (err) {
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

  async readRanges(key: string, ranges: readonly (readonly [number, number])[]): Promise<Buffer> {
    const handle = await fs.open(this.pathOf(key), 'r');
    try {
      const chunks: Buffer[] = [];
      for (const [offset, length] of ranges) {
        const buf = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buf, 0, length, offset);
        chunks.push(buf.subarray(0, bytesRead));
      }
      return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    } finally {
      await handle.close();
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
