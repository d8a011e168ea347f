import type { Readable } from 'node:stream';
import { FhirError } from '../shared';

/** A small request body (import requests, $deidentify options), refused past `maxBytes`. */
export async function readSmallBody(body: Readable | undefined, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body ?? []) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw FhirError.of('too-costly', `The request body exceeds ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function parseJsonBody(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw FhirError.of('invalid', 'The request body must be JSON');
  }
}
