import type { DcmjsDataset } from 'dcmjs';
import dcmjs from 'dcmjs';

/** An attribute in the DICOM JSON model (PS3.18 Annex F). */
export interface DicomAttribute {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}
export type DicomJson = Record<string, DicomAttribute>;

const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);
const VRS = new Set(
  'AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(
    ' ',
  ),
);

/**
 * dcmjs reports ambiguous dictionary VRs as "xs" (US or SS) and "ox" (OB or OW); the JSON model
 * needs a real one. Pixel Data's is settled by the parser, which knows the encoding.
 */
function normalVr(vr: string | undefined, tag: string): string {
  if (vr && VRS.has(vr)) return vr;
  const fromDictionary = vrOf(tag);
  if (fromDictionary && VRS.has(fromDictionary)) return fromDictionary;
  if (vr === 'xs' || fromDictionary === 'US or SS') return 'US';
  if (vr === 'ox' || fromDictionary === 'OB or OW') return 'OW';
  return 'UN';
}

/** Stored metadata refers to bulk data relative to the instance; retrieval rewrites it absolute. */
export const BULK_PREFIX = 'bulkdata/';

export function tagOf(keywordOrTag: string): string | undefined {
  if (/^[0-9A-Fa-f]{8}$/.test(keywordOrTag)) return keywordOrTag.toUpperCase();
  const entry = dcmjs.data.DicomMetaDictionary.nameMap[keywordOrTag];
  return entry ? entry.tag.replace(/[(),]/g, '').toUpperCase() : undefined;
}

export function vrOf(tag: string): string | undefined {
  const key = `(${tag.slice(0, 4)},${tag.slice(4)})`;
  return dcmjs.data.DicomMetaDictionary.dictionary[key]?.vr;
}

function byteLength(values: unknown[]): number {
  let n = 0;
  for (const v of values) if (v instanceof ArrayBuffer) n += v.byteLength;
  return n;
}

/**
 * Converts a dcmjs dataset into DICOM JSON. Binary values up to inlineLimit bytes are inlined
 * as base64; larger ones, and Pixel Data always, become BulkDataURIs (relative, see BULK_PREFIX)
 * whose path names the tag and, inside sequences, the item index.
 */
export function toDicomJson(ds: DcmjsDataset, inlineLimit: number, path: string[] = []): DicomJson {
  const out: DicomJson = {};
  for (const tag of Object.keys(ds).sort()) {
    const el = ds[tag];
    if (!el || tag.startsWith('0002') || tag.endsWith('0000')) continue;
    const vr = normalVr(el.vr, tag);
    const values = Array.isArray(el.Value) ? el.Value : [];
    const here = [...path, tag];
    if (vr === 'SQ') {
      out[tag] = {
        vr,
        ...(values.length > 0 && {
          Value: values.map((item, i) =>
            toDicomJson((item ?? {}) as DcmjsDataset, inlineLimit, [...here, String(i)]),
          ),
        }),
      };
    } else if (BINARY_VRS.has(vr) || tag === '7FE00010') {
      const size = byteLength(values);
      if (tag === '7FE00010' || size > inlineLimit)
        out[tag] = { vr, BulkDataURI: BULK_PREFIX + here.join('/') };
      else if (size > 0)
        out[tag] = {
          vr,
          InlineBinary: Buffer.concat(
            values.filter((v): v is ArrayBuffer => v instanceof ArrayBuffer).map((v) => Buffer.from(v)),
          ).toString('base64'),
        };
      else out[tag] = { vr };
    } else {
      const clean = values
        .filter((v) => v !== undefined && v !== null && v !== '')
        .map((v) =>
          vr === 'AT' && typeof v === 'number' ? v.toString(16).toUpperCase().padStart(8, '0') : v,
        );
      out[tag] = clean.length > 0 ? { vr, Value: clean } : { vr };
    }
  }
  return out;
}

export function firstString(json: DicomJson, tag: string): string | undefined {
  const v = json[tag]?.Value?.[0];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') return (v as { Alphabetic?: string }).Alphabetic;
  return (typeof v === 'string' ? v : JSON.stringify(v)).trim();
}

export function firstNumber(json: DicomJson, tag: string): number | undefined {
  const v = json[tag]?.Value?.[0];
  const n = typeof v === 'number' ? v : Number(v);
  return v === undefined || Number.isNaN(n) ? undefined : n;
}
