import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import StreamSearch from 'streamsearch';

export interface Part {
  index: number;
  headers: Record<string, string>;
  /** The part's bytes; must be consumed (or destroyed) for parsing to go on. */
  body: Readable;
}

export class MultipartError extends Error {}

/** Parameters of a media type such as `multipart/related; type="application/dicom"; boundary=x`. */
export function mediaTypeParams(header: string): { type: string; params: Record<string, string> } {
  const [type = '', ...rest] = splitOutsideQuotes(header, ';');
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    const key = p.slice(0, eq).trim().toLowerCase();
    let value = p.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    params[key] = value;
  }
  return { type: type.trim().toLowerCase(), params };
}

export function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 16 * 1024;

/**
 * Streams a multipart body (RFC 2046), handing each part to onPart as soon as its headers are
 * read. Part bodies are streams with backpressure, so a multi-gigabyte STOW request never sits
 * in memory. Resolves when the closing delimiter was seen and every onPart promise settled.
 */
export async function parseMultipart(
  source: AsyncIterable<Buffer>,
  boundary: string,
  onPart: (part: Part) => Promise<void>,
): Promise<void> {
  type State = 'preamble' | 'afterBoundary' | 'headers' | 'body' | 'done';
  // Asserted wide: the callbacks below change it, which flow analysis cannot see.
  let state = 'preamble' as State;
  let pending = Buffer.alloc(0);
  let current: PassThrough | undefined;
  let index = 0;
  const handlers: Promise<void>[] = [];
  let drain: Promise<void> | undefined;

  const write = (data: Buffer): void => {
    if (!current || current.destroyed || data.length === 0) return;
    if (!current.write(data) && !drain) {
      const stream = current;
      drain = new Promise((resolve) => {
        const done = (): void => {
          stream.off('drain', done);
          stream.off('close', done);
          resolve();
        };
        stream.on('drain', done);
        stream.on('close', done);
      });
    }
  };

  /** Handles bytes that are not a delimiter. */
  const onData = (chunk: Buffer): void => {
    if (state === 'preamble' || state === 'done') return;
    if (state === 'body') {
      write(chunk);
      return;
    }
    pending = Buffer.concat([pending, chunk]);
    if (state === 'afterBoundary') {
      if (pending.length < 2) return;
      if (pending[0] === 0x2d && pending[1] === 0x2d) {
        state = 'done';
        return;
      }
      state = 'headers';
    }
    const end = pending.indexOf(HEADER_END);
    if (end < 0) {
      if (pending.length > MAX_HEADER_BYTES) throw new MultipartError('Part headers too long');
      return;
    }
    // Transport padding and the CRLF that ends the delimiter line come first.
    const headerText = pending.subarray(pending.indexOf(CRLF) + 2, end).toString('latin1');
    const headers: Record<string, string> = {};
    for (const line of headerText.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const rest = pending.subarray(end + HEADER_END.length);
    pending = Buffer.alloc(0);
    current = new PassThrough({ highWaterMark: 1024 * 1024 });
    state = 'body';
    handlers.push(onPart({ index: index++, headers, body: current }));
    write(rest);
  };

  const search = new StreamSearch(`\r\n--${boundary}`, (isMatch, data, start, end, isSafeData) => {
    // Only bytes from the search's own look-behind buffer are overwritten later and need a copy.
    if (data && end > start)
      onData(isSafeData ? data.subarray(start, end) : Buffer.from(data.subarray(start, end)));
    if (isMatch) {
      if (state === 'body') current?.end();
      if (state === 'headers') throw new MultipartError('Part headers not terminated');
      current = undefined;
      if (state !== 'done') {
        state = 'afterBoundary';
        pending = Buffer.alloc(0);
      }
    }
  });

  try {
    // The leading CRLF lets the first delimiter match like every later one.
    search.push(CRLF);
    for await (const chunk of source) {
      search.push(chunk);
      if (drain) {
        await drain;
        drain = undefined;
      }
      if (state === 'done') break;
    }
    search.destroy();
    if (state !== 'done') {
      current?.destroy(new MultipartError('Body ended inside a part'));
      throw new MultipartError(
        index === 0 ? 'No multipart boundary found in the body' : 'Body ended before the closing delimiter',
      );
    }
  } finally {
    await Promise.allSettled(handlers);
  }
  await Promise.all(handlers);
}

export function newBoundary(): string {
  return randomBytes(16).toString('hex');
}

export interface OutPart {
  contentType: string;
  headers?: Record<string, string>;
  /** Bytes, or a function producing a stream only when this part's turn comes. */
  body: Buffer | (() => Promise<Readable>);
}

/** Writes parts as a multipart/related body, opening each part's stream only when it is sent. */
export function multipartStream(
  parts: AsyncIterable<OutPart> | Iterable<OutPart>,
  boundary: string,
): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    for await (const part of parts) {
      const head = [`--${boundary}`, `Content-Type: ${part.contentType}`];
      for (const [k, v] of Object.entries(part.headers ?? {})) head.push(`${k}: ${v}`);
      yield Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1');
      if (Buffer.isBuffer(part.body)) yield part.body;
      else for await (const chunk of await part.body()) yield chunk as Buffer;
      yield CRLF;
    }
    yield Buffer.from(`--${boundary}--\r\n`, 'latin1');
  }
  return Readable.from(generate());
}
