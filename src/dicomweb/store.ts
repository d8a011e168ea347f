import type { BlobInfo, Executor } from '../storage';
import type { DicomJson } from './dicom-json';
import { firstNumber, firstString } from './dicom-json';
import { pick, SERIES_TAGS, STUDY_TAGS } from './levels';
import type { ParsedInstance } from './parse';

export interface StoredInstance {
  parsed: ParsedInstance;
  blob: BlobInfo;
}

export interface StudyRow {
  study_uid: string;
  patient_id: string | null;
  patient_name: string | null;
  attrs: string;
  imaging_study_id: string;
  patient_ref: string | null;
  patient_ref_key: string | null;
}

export interface SeriesRow {
  series_uid: string;
  study_uid: string;
  modality: string | null;
  series_number: number | null;
  series_description: string | null;
  attrs: string;
}

export interface InstanceRow {
  sop_uid: string;
  series_uid: string;
  study_uid: string;
  sop_class_uid: string;
  instance_number: number | null;
  transfer_syntax: string;
  blob_key: string;
  size: string | number;
  metadata: string;
  pixel: string | null;
  bulk: string;
}

/** Upper-case name components, space separated and padded, for word-prefix (fuzzy) matching. */
export function nameWords(name: string | undefined): string | null {
  if (!name) return null;
  const words = name
    .toUpperCase()
    .split(/[\^=\s,]+/)
    .filter((w) => w !== '');
  return words.length > 0 ? ` ${words.join(' ')} ` : null;
}

function studyColumns(json: DicomJson): Record<string, string | null> {
  const s = (tag: string): string | null => firstString(json, tag) ?? null;
  return {
    patient_id: s('00100020'),
    patient_name: s('00100010')?.toUpperCase() ?? null,
    patient_name_words: nameWords(firstString(json, '00100010')),
    patient_birth_date: s('00100030'),
    patient_sex: s('00100040'),
    study_date: s('00080020'),
    study_time: s('00080030'),
    accession_number: s('00080050'),
    study_id: s('00200010'),
    referring_physician_name: s('00080090')?.toUpperCase() ?? null,
    study_description: s('00081030'),
  };
}

/**
 * Writes the index rows of one study's newly stored instances (inside the caller's transaction).
 * Returns blob keys no longer referenced by the re-sent instances they belonged to, other
 * studies an instance moved out of, so the caller can clean and re-sync them, and the study row
 * when anything changed.
 */
export async function indexInstances(
  exec: Executor,
  studyUid: string,
  imagingStudyId: string,
  instances: StoredInstance[],
  now: Date,
): Promise<{ replacedBlobs: string[]; otherStudies: string[]; study?: StudyRow }> {
  // The same SOP Instance twice in one request: the last copy wins, as a later request would.
  const unique = [...new Map(instances.map((i) => [i.parsed.sopUid, i])).values()];
  const dropped = instances.filter((i) => !unique.includes(i)).map((i) => i.blob.key);
  const sopUids = unique.map((i) => i.parsed.sopUid);
  const existing: { sop_uid: string; blob_key: string; study_uid: string }[] = await exec('dicom_instance')
    .whereIn('sop_uid', sopUids)
    .select('sop_uid', 'blob_key', 'study_uid');
  const before = new Map(existing.map((r) => [r.sop_uid, r]));
  const fresh = unique.filter((i) => before.get(i.parsed.sopUid)?.blob_key !== i.blob.key);
  if (fresh.length === 0) return { replacedBlobs: dropped, otherStudies: [] };

  const last = fresh[fresh.length - 1]?.parsed.metadata ?? {};
  const studyInsert = exec('dicom_study')
    .insert({
      study_uid: studyUid,
      ...studyColumns(last),
      attrs: JSON.stringify(pick(last, STUDY_TAGS)),
      imaging_study_id: imagingStudyId,
      updated_at: now,
    })
    .onConflict('study_uid')
    .merge()
    .returning('*')
    .toSQL();

  const series = new Map<string, DicomJson>();
  for (const i of fresh) series.set(i.parsed.seriesUid, i.parsed.metadata);
  const seriesInsert = exec('dicom_series')
    .insert(
      [...series].map(([uid, json]) => ({
        series_uid: uid,
        study_uid: studyUid,
        modality: firstString(json, '00080060') ?? null,
        series_number: intOrNull(firstNumber(json, '00200011')),
        series_description: firstString(json, '0008103E') ?? null,
        performed_start_date: firstString(json, '00400244') ?? null,
        performed_start_time: firstString(json, '00400245') ?? null,
        attrs: JSON.stringify(pick(json, SERIES_TAGS)),
      })),
    )
    .onConflict('series_uid')
    .merge()
    .toSQL();

  const rows = fresh.map(({ parsed, blob }) => ({
    sop_uid: parsed.sopUid,
    series_uid: parsed.seriesUid,
    study_uid: studyUid,
    sop_class_uid: parsed.sopClassUid,
    instance_number: intOrNull(firstNumber(parsed.metadata, '00200013')),
    transfer_syntax: parsed.transferSyntax,
    blob_key: blob.key,
    size: blob.size,
    metadata: JSON.stringify(parsed.metadata),
    pixel: parsed.pixel ? JSON.stringify(parsed.pixel) : null,
    bulk: JSON.stringify(parsed.bulk),
    stored_at: now,
  }));
  const instanceInserts = [];
  for (let i = 0; i < rows.length; i += 500)
    instanceInserts.push(
      exec('dicom_instance')
        .insert(rows.slice(i, i + 500))
        .onConflict('sop_uid')
        .merge()
        .toSQL(),
    );
  // Study, series and the first instances in one statement: embedded, each statement costs a parse and plan.
  const [firstInstances, ...moreInstances] = instanceInserts;
  const combined = await exec.raw<{ rows: StudyRow[] }>(
    `WITH se AS (${seriesInsert.sql}), i AS (${firstInstances?.sql ?? 'SELECT 1'}), st AS (${studyInsert.sql}) SELECT * FROM st`,
    [...seriesInsert.bindings, ...(firstInstances?.bindings ?? []), ...studyInsert.bindings],
  );
  for (const more of moreInstances) await exec.raw(more.sql, more.bindings);
  const study = combined.rows[0];

  const replaced = fresh.map((i) => before.get(i.parsed.sopUid)).filter((r) => r !== undefined);
  return {
    replacedBlobs: [...dropped, ...replaced.map((r) => r.blob_key)],
    otherStudies: [...new Set(replaced.map((r) => r.study_uid).filter((s) => s !== studyUid))],
    study,
  };
}

function intOrNull(n: number | undefined): number | null {
  return n !== undefined && Number.isInteger(n) && Math.abs(n) < 2 ** 31 ? n : null;
}

/** Removes series and study rows left without instances. */
export async function pruneEmpty(exec: Executor, studyUid: string): Promise<boolean> {
  await exec('dicom_series')
    .where('study_uid', studyUid)
    .whereNotExists(function () {
      this.select(1).from('dicom_instance as i').whereRaw('i.series_uid = dicom_series.series_uid');
    })
    .delete();
  const left: unknown = await exec('dicom_instance').where('study_uid', studyUid).first('sop_uid');
  if (left) return false;
  await exec('dicom_study').where('study_uid', studyUid).delete();
  return true;
}
