import type { DcmjsDataset, DcmjsElement } from 'dcmjs';
import dcmjs from 'dcmjs';
import type { OcrEngine } from '../../ocr';
import type { ChangeLogEntry } from '../change-log';
import { ChangeLog } from '../change-log';
import { addDays } from '../dates';
import type { Pseudonymizer } from '../pseudonym';
import type { TextDeidentifier } from '../text/engine';
import type { DeidProfile } from '../profile/profile';
import type { ConfidentialityTable } from './profile';

export type DicomDeidResult =
  | { status: 'done'; file: Buffer; sopUid: string; changes: ChangeLogEntry[] }
  | { status: 'quarantined'; reason: string };

export interface DicomDeidDeps {
  table: ConfidentialityTable;
  pseudonyms: Pseudonymizer;
  text: TextDeidentifier;
  /** OCR for profiles that clean burned-in text rather than quarantine it. */
  ocr: OcrEngine;
}

const CLEAN_PIXEL_DATA: [string, string] = ['113101', 'Clean Pixel Data Option'];

const DUMMY: Record<string, unknown> = {
  PN: { Alphabetic: 'ANONYMIZED' },
  DA: '19000101',
  TM: '000000',
  DT: '19000101000000',
  AS: '000Y',
  IS: 0,
  DS: 0,
  US: 0,
  SS: 0,
  UL: 0,
  SL: 0,
  FL: 0,
  FD: 0,
};

const str = (e: DcmjsElement | undefined): string | undefined => {
  const v = e?.Value?.[0];
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && 'Alphabetic' in v) {
    const a = (v as { Alphabetic?: unknown }).Alphabetic;
    return typeof a === 'string' ? a : '';
  }
  return undefined;
};

/** Why an instance may carry identifying text in its pixels (PS3.15 E.3.1), or undefined. */
function burnedInRisk(ds: DcmjsDataset): string | undefined {
  if (str(ds['00280301'])?.toUpperCase() === 'YES') return 'BurnedInAnnotation is YES';
  const modality = str(ds['00080060'])?.toUpperCase();
  if (modality === 'SC' || modality === 'US') return `${modality} images often carry burned-in text`;
  const sopClass = str(ds['00080016']) ?? '';
  // Secondary Capture and Ultrasound (multi-frame) storage, whatever the modality says.
  if (/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.(7(\.\d)?|6\.1|3\.1)$/.test(sopClass))
    return 'Secondary capture and ultrasound images often carry burned-in text';
  const imageType = (ds['00080008']?.Value ?? []).map(String);
  if (imageType.some((v) => v.toUpperCase() === 'SCREEN SAVE')) return 'ImageType is SCREEN SAVE';
  return undefined;
}

/**
 * PS3.15 Annex E de-identification of one Part 10 file: every attribute of table E.1-1 gets its
 * action for the profile (X remove, Z empty, D dummy, K keep, C clean, U consistent new UID),
 * private groups go, sequences are walked to the bottom, and the result says how it was made.
 * Instances whose pixels may show names are quarantined rather than released.
 */
export async function deidentifyDicom(
  file: Buffer,
  profile: DeidProfile,
  deps: DicomDeidDeps,
  /** Set when the pixels were already cleaned of burned-in text: how many boxes were blanked. */
  cleanedRegions?: number,
): Promise<DicomDeidResult> {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer;
  const dict = dcmjs.data.DicomMessage.readFile(ab, { ignoreErrors: true });
  const ds = dict.dict;
  const risk = cleanedRegions === undefined && burnedInRisk(ds);
  if (risk) return { status: 'quarantined', reason: risk };

  const patientKey = str(ds['00100020']) ?? str(ds['0020000D']) ?? '';
  const shift = deps.pseudonyms.dateShiftDays(patientKey);
  const log = new ChangeLog();
  const note = (tag: string, name: string, action: string): void => {
    log.note(`(${tag.slice(0, 4)},${tag.slice(4)}) ${name}`, action);
  };
  let shifted = false;
  const texts: (() => Promise<void>)[] = [];
  if (cleanedRegions !== undefined)
    log.note('(7FE0,0010) Pixel Data: text boxes blanked', 'C', cleanedRegions);

  const clean = (el: DcmjsElement): void => {
    const vr = el.vr ?? '';
    if (vr === 'DA' || vr === 'DT') {
      el.Value = (el.Value ?? []).map((v) => shiftDate(String(v), shift));
      shifted = true;
    } else if (vr === 'SQ') {
      for (const item of el.Value ?? []) walk(item as DcmjsDataset);
    } else if (['LO', 'SH', 'ST', 'LT', 'UT', 'UC', 'PN'].includes(vr)) {
      // Text runs through the text engine after the walk (it may await a model).
      texts.push(async () => {
        el.Value = await Promise.all(
          (el.Value ?? []).map(async (v) =>
            typeof v === 'string'
              ? (await deps.text.deidentify(v, { replacement: profile.text.replacement })).text
              : { Alphabetic: 'ANONYMIZED' },
          ),
        );
      });
    } else el.Value = [];
  };

  const walk = (d: DcmjsDataset): void => {
    for (const tag of Object.keys(d)) {
      const el = d[tag];
      if (!el) continue;
      const group = parseInt(tag.slice(0, 4), 16);
      if (group % 2 === 1) {
        Reflect.deleteProperty(d, tag);
        note(tag, 'private attribute', 'X');
        continue;
      }
      const rule = deps.table.rule(tag);
      if (!rule) {
        if (el.vr === 'SQ') for (const item of el.Value ?? []) walk(item as DcmjsDataset);
        continue;
      }
      const action = resolve(deps.table.action(rule, profile.dicom.options));
      if (action !== 'K') note(tag, rule.name, action);
      switch (action) {
        case 'X':
          Reflect.deleteProperty(d, tag);
          break;
        case 'Z':
          el.Value = pseudonymFor(tag, el, deps.pseudonyms) ?? [];
          break;
        case 'D':
          el.Value = pseudonymFor(tag, el, deps.pseudonyms) ?? (el.vr === 'SQ' ? [] : dummy(el.vr));
          break;
        case 'U':
          // On a sequence (X/Z/U*), the UIDs inside its items are replaced, by their own rules.
          if (el.vr === 'SQ') for (const item of el.Value ?? []) walk(item as DcmjsDataset);
          else
            el.Value = (el.Value ?? []).map((v) => (typeof v === 'string' && v ? deps.pseudonyms.uid(v) : v));
          break;
        case 'C':
          clean(el);
          break;
        default:
          if (el.vr === 'SQ') for (const item of el.Value ?? []) walk(item as DcmjsDataset);
      }
    }
  };
  walk(ds);
  for (const clean of texts) await clean();

  ds['00120062'] = { vr: 'CS', Value: ['YES'] };
  ds['00120063'] = {
    vr: 'LO',
    Value: [`${profile.name} ${profile.version} key ${deps.pseudonyms.key.id}`.slice(0, 64)],
  };
  ds['00120064'] = {
    vr: 'SQ',
    Value: [...profile.dicom.codes, ...(cleanedRegions === undefined ? [] : [CLEAN_PIXEL_DATA])].map(
      ([code, meaning]) => ({
        '00080100': { vr: 'SH', Value: [code] },
        '00080102': { vr: 'SH', Value: ['DCM'] },
        '00080104': { vr: 'LO', Value: [meaning] },
      }),
    ),
  };
  if (shifted) ds['00280303'] = { vr: 'CS', Value: ['MODIFIED'] };
  const sopUid = str(ds['00080018']) ?? '';
  const meta = dict.meta['00020003'];
  if (meta) meta.Value = [sopUid];
  return {
    status: 'done',
    file: Buffer.from(dict.write({ allowInvalidVRLength: true })),
    sopUid,
    changes: log.entries(),
  };
}

/**
 * Combined actions (PS3.15 E.1.1): without the IOD at hand, the one that keeps the data set valid
 * is chosen: a dummy over emptying, emptying over removal, and a new UID where one is allowed.
 */
function resolve(action: string): string {
  if (action.includes('U')) return 'U';
  if (action.includes('D')) return 'D';
  if (action.includes('Z')) return 'Z';
  return action.split('/')[0] ?? 'X';
}

/** Patient identity becomes the keyed pseudonym, so one patient stays one (de-identified) patient. */
function pseudonymFor(tag: string, el: DcmjsElement, p: Pseudonymizer): unknown[] | undefined {
  const value = str(el);
  if (!value) return undefined;
  if (tag === '00100020') return [p.token('patient', value)];
  if (tag === '00100010') return [{ Alphabetic: `ANON^${p.token('patient-name', value)}` }];
  return undefined;
}

function dummy(vr: string | undefined): unknown[] {
  const v = DUMMY[vr ?? ''];
  if (v !== undefined) return [v];
  if (vr && ['OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'UN'].includes(vr)) return [];
  return ['ANONYMIZED'];
}

/** Moves a DA or DT value by whole days, keeping any time part. */
function shiftDate(value: string, days: number): string {
  const m = /^(\d{4})(\d{2})(\d{2})(.*)$/.exec(value);
  const d = m && addDays(Number(m[1]), Number(m[2]), Number(m[3]), days);
  return d ? `${d.toISOString().slice(0, 10).replace(/-/g, '')}${m[4] ?? ''}` : '';
}
