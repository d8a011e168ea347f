import { createHash } from 'node:crypto';

/**
 * A UUID (version 5 layout, SHA-256 based) that is the same for the same name: outputs derived
 * from a source get the same id every time they are made, so making them twice writes nothing new.
 */
export function stableUuid(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  const variant = ((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}
