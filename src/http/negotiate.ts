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

/** Which bodies besides FHIR JSON the interaction takes. */
export interface BodyAcceptance {
  /** JSON Patch (PATCH). */
  patch: boolean;
  /** A search form (POST [type]/_search). */
  form: boolean;
  /** Raw bytes of any type (Binary create and update). */
  raw: boolean;
}

/**
 * Classifies the request body by Content-Type: FHIR JSON, JSON Patch, a search form, or raw Binary
 * bytes. Anything the interaction does not take is 415 naming what it does: a JSON body sent with
 * curl's default form type would otherwise reach the handler as no body at all.
 */
export function requestBodyKind(
  contentType: string | undefined,
  hasBody: boolean,
  accepts: BodyAcceptance,
): RequestBodyKind {
  if (!hasBody) return 'none';
  const mt = mediaType(contentType);
  if (JSON_TYPES.includes(mt)) return 'json';
  if (accepts.patch && mt === 'application/json-patch+json') return 'patch';
  if (accepts.form && mt === 'application/x-www-form-urlencoded') return 'form';
  if (accepts.raw && mt !== '') return 'raw';
  const accepted = [
    'application/fhir+json',
    'application/json',
    ...(accepts.patch ? ['application/json-patch+json'] : []),
    ...(accepts.form ? ['application/x-www-form-urlencoded'] : []),
    ...(accepts.raw ? ["the content's own media type"] : []),
  ].join(', ');
  const what = XML_TYPES.includes(mt)
    ? 'XML is not supported'
    : mt === ''
      ? 'The request body has no Content-Type'
      : `Content-Type '${mt}' is not accepted here`;
  throw unsupportedMediaType(`${what}; send the body as ${accepted}`);
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
