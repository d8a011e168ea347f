import { notAcceptable, unsupportedMediaType } from '../shared';

const JSON_TYPES = [
  'application/fhir+json',
  'application/json',
  'json',
  'application/json+fhir',
  'text/json',
];
const XML_TYPES = ['application/fhir+xml', 'application/xml', 'xml', 'text/xml', 'application/xml+fhir'];

function mediaType(h: string | undefined): string {
  return (h ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export type RequestBodyKind = 'json' | 'patch' | 'form' | 'raw' | 'none';

/** Classifies the request body by Content-Type: FHIR JSON, JSON Patch, a search form, or raw Binary bytes. */
export function requestBodyKind(
  contentType: string | undefined,
  hasBody: boolean,
  rawAllowed: boolean,
): RequestBodyKind {
  if (!hasBody) return 'none';
  const mt = mediaType(contentType);
  if (JSON_TYPES.includes(mt)) return 'json';
  if (mt === 'application/json-patch+json') return 'patch';
  if (mt === 'application/x-www-form-urlencoded') return 'form';
  if (rawAllowed && mt !== '') return 'raw';
  if (XML_TYPES.includes(mt)) throw unsupportedMediaType('XML is not supported; send application/fhir+json');
  throw unsupportedMediaType(`Unsupported Content-Type '${mt || '(none)'}'; send application/fhir+json`);
}

/**
 * Response format from _format (which wins) or Accept. Returns the JSON media type to answer
 * with, or 'raw' when a Binary read should return the bytes themselves.
 */
export function responseFormat(
  format: string | undefined,
  accept: string | undefined,
  binaryRead: boolean,
): string {
  if (format !== undefined) {
    const f = format.toLowerCase();
    if (JSON_TYPES.includes(f)) return 'application/fhir+json';
    if (XML_TYPES.includes(f)) throw notAcceptable('XML is not supported; use _format=json');
    throw notAcceptable(`Unsupported _format '${format}'`);
  }
  const types = (accept ?? '')
    .split(',')
    .map((t) => mediaType(t))
    .filter(Boolean);
  if (types.length === 0) return binaryRead ? 'raw' : 'application/fhir+json';
  if (types.includes('application/fhir+json')) return 'application/fhir+json';
  if (types.includes('application/json') || types.includes('application/json+fhir'))
    return 'application/json';
  if (binaryRead) return 'raw';
  if (types.some((t) => t === '*/*' || t === 'application/*')) return 'application/fhir+json';
  if (types.some((t) => XML_TYPES.includes(t)))
    throw notAcceptable('XML is not supported; accept application/fhir+json');
  throw notAcceptable(`Cannot produce any of: ${types.join(', ')}`);
}
