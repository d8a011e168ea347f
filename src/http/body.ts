import type { IncomingMessage } from 'node:http';
import { badRequest, payloadTooLarge } from '../shared';

export interface BodyLimits {
  maxBytes: number;
  maxDepth: number;
  maxArrayItems: number;
}

/** Reads the whole body, refusing with 413 as soon as it exceeds the limit (before buffering it all). */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw payloadTooLarge(`Request body exceeds ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) {
      req.resume();
      throw payloadTooLarge(`Request body exceeds ${maxBytes} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/**
 * Scans JSON text for nesting depth and array length before JSON.parse, so a hostile body
 * (100k nested arrays, a 10M-element array) is refused with 400 instead of exhausting the
 * stack or memory in the validator and FHIRPath engine further on.
 */
export function checkJsonShape(text: string, limits: BodyLimits): void {
  const counts: number[] = [];
  const isArray: boolean[] = [];
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) {
      inString = true;
      const top = counts.length - 1;
      if (top >= 0 && isArray[top] && counts[top] === 0) counts[top] = 1;
    } else if (c === 123 || c === 91) {
      const top = counts.length - 1;
      if (top >= 0 && isArray[top] && counts[top] === 0) counts[top] = 1;
      counts.push(0);
      isArray.push(c === 91);
      if (counts.length > limits.maxDepth) throw badRequest(`JSON nesting deeper than ${limits.maxDepth}`);
    } else if (c === 125 || c === 93) {
      counts.pop();
      isArray.pop();
    } else if (c === 44) {
      const top = counts.length - 1;
      if (top >= 0 && isArray[top]) {
        const n = (counts[top] ?? 0) + 1;
        counts[top] = n;
        if (n > limits.maxArrayItems)
          throw badRequest(`JSON array longer than ${limits.maxArrayItems} items`);
      }
    } else if (c > 32) {
      const top = counts.length - 1;
      if (top >= 0 && isArray[top] && counts[top] === 0) counts[top] = 1;
    }
  }
}

export function parseJsonBody(buf: Buffer, limits: BodyLimits): unknown {
  const text = buf.toString('utf8');
  if (text.trim() === '') throw badRequest('Request body is empty');
  checkJsonShape(text, limits);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`Malformed JSON: ${(err as Error).message}`);
  }
}
