import { mediaTypeParams, splitOutsideQuotes } from './multipart';
import type { DicomWebRequest } from './types';

export interface AcceptEntry {
  type: string;
  params: Record<string, string>;
}

/** The Accept header (or the `accept` query parameter, PS3.18 8.3.3.1) as media ranges in order. */
export function acceptList(req: DicomWebRequest): AcceptEntry[] {
  const fromQuery = req.query.find(([k]) => k === 'accept')?.[1];
  const raw = fromQuery ?? req.headers.accept ?? '';
  return splitOutsideQuotes(raw, ',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => mediaTypeParams(s))
    .filter((e) => e.params.q !== '0');
}

export function acceptsJson(req: DicomWebRequest): boolean {
  const list = acceptList(req);
  return (
    list.length === 0 ||
    list.some((e) => ['*/*', 'application/*', 'application/dicom+json', 'application/json'].includes(e.type))
  );
}
