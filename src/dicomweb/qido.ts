import type { Knex } from 'knex';
import { FhirError } from '../shared';
import type { DicomJson } from './dicom-json';
import { tagOf } from './dicom-json';
import { DEFAULT_RETURN, pick, SERIES_TAGS, STUDY_TAGS } from './levels';
import type { MatchColumn } from './matching';
import { applyMatch } from './matching';
import { acceptsJson } from './negotiate';
import { warningValue } from './warning';
import type { DicomWebDeps, DicomWebRequest, DicomWebResponse } from './types';
import { instanceUrl, studyUrl } from './urls';

type Level = 'study' | 'series' | 'instance';

const STUDY_KEYS: Record<string, MatchColumn> = {
  '0020000D': { column: 's.study_uid', kind: 'uidList' },
  '00100010': { column: 's.patient_name', kind: 'personName' },
  '00100020': { column: 's.patient_id', kind: 'exact' },
  '00100030': { column: 's.patient_birth_date', kind: 'dateRange' },
  '00100040': { column: 's.patient_sex', kind: 'exact' },
  '00080020': { column: 's.study_date', kind: 'dateRange' },
  '00080030': { column: 's.study_time', kind: 'timeRange' },
  '00080050': { column: 's.accession_number', kind: 'exact' },
  '00080090': { column: 's.referring_physician_name', kind: 'wildcard' },
  '00081030': { column: 's.study_description', kind: 'exact' },
  '00200010': { column: 's.study_id', kind: 'exact' },
};
const SERIES_KEYS: Record<string, MatchColumn> = {
  '0020000E': { column: 'se.series_uid', kind: 'uidList' },
  '00080060': { column: 'se.modality', kind: 'exact' },
  '00200011': { column: 'se.series_number', kind: 'integer' },
  '0008103E': { column: 'se.series_description', kind: 'exact' },
  '00400244': { column: 'se.performed_start_date', kind: 'dateRange' },
  '00400245': { column: 'se.performed_start_time', kind: 'timeRange' },
};
const INSTANCE_KEYS: Record<string, MatchColumn> = {
  '00080018': { column: 'i.sop_uid', kind: 'uidList' },
  '00080016': { column: 'i.sop_class_uid', kind: 'uidList' },
  '00200013': { column: 'i.instance_number', kind: 'integer' },
};
const MODALITIES_IN_STUDY = '00080061';
const CONTROL = new Set(['limit', 'offset', 'fuzzymatching', 'includefield', 'accept', 'charset']);

/** QIDO-RS (PS3.18 10.6) at study, series and instance level. */
export async function qidoHandler(req: DicomWebRequest, deps: DicomWebDeps): Promise<DicomWebResponse> {
  if (!acceptsJson(req))
    throw new FhirError(406, { code: 'not-supported', message: 'Only application/dicom+json is produced' });
  const seg = req.segments;
  const level: Level = seg.at(-1) === 'studies' ? 'study' : seg.at(-1) === 'series' ? 'series' : 'instance';
  const studyUid = seg[0] === 'studies' ? seg[1] : undefined;
  const seriesUid = seg[2] === 'series' ? seg[3] : undefined;

  const get = (k: string): string | undefined => req.query.find(([key]) => key === k)?.[1];
  const limit = Math.min(intParam(get('limit'), 100, 'limit'), 1000);
  const offset = intParam(get('offset'), 0, 'offset');
  const fuzzy = get('fuzzymatching') === 'true';
  const include = new Set<string>();
  let includeAll = false;
  for (const [k, v] of req.query) {
    if (k !== 'includefield') continue;
    for (const f of v.split(',')) {
      if (f === 'all') includeAll = true;
      else include.add(requireTag(f));
    }
  }

  const exec = await deps.repo.reader();
  const q = baseQuery(exec, level);
  if (studyUid) void q.where('s.study_uid', studyUid);
  if (seriesUid) void q.where('se.series_uid', seriesUid);
  const warnings: string[] = [];
  const keys = {
    ...STUDY_KEYS,
    ...(level !== 'study' && SERIES_KEYS),
    ...(level === 'instance' && INSTANCE_KEYS),
  };
  for (const [k, v] of req.query) {
    if (CONTROL.has(k)) continue;
    const tag = requireTag(k);
    include.add(tag);
    if (v === '') continue; // universal matching: only asks for the attribute
    if (tag === MODALITIES_IN_STUDY && level === 'study') {
      const list = v.split(/[\\,]/).filter(Boolean);
      void q.whereExists(function () {
        this.select(1)
          .from('dicom_series as m')
          .whereRaw('m.study_uid = s.study_uid')
          .whereIn('m.modality', list);
      });
      continue;
    }
    const col = keys[tag];
    if (col) applyMatch(q, col, v, fuzzy, k);
    else warnings.push(warningValue(deps.base, `${k} is not supported for matching and was ignored`));
  }
  const rows = (await q.limit(limit + 1).offset(offset)) as Record<string, unknown>[];
  if (rows.length > limit) {
    rows.pop();
    warnings.push(warningValue(deps.base, 'There are additional results that can be requested'));
  }
  const answers = await renderRows(exec, level, rows, include, includeAll, !studyUid, !seriesUid, deps);
  return {
    status: 200,
    contentType: 'application/dicom+json',
    headers: warnings.length > 0 ? { Warning: warnings.join(', ') } : undefined,
    body: JSON.stringify(answers),
  };
}

function intParam(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw FhirError.of('invalid', `${name} must be a non-negative integer`);
  return n;
}

function requireTag(keyOrTag: string): string {
  const tag = tagOf(keyOrTag);
  if (!tag) throw FhirError.of('invalid', `${keyOrTag} is not a DICOM attribute keyword or tag`);
  return tag;
}

function baseQuery(exec: Knex | Knex.Transaction, level: Level): Knex.QueryBuilder {
  if (level === 'study')
    return exec('dicom_study as s')
      .select('s.study_uid', 's.attrs as study_attrs')
      .select(
        exec.raw('(SELECT count(*) FROM dicom_series x WHERE x.study_uid = s.study_uid) AS n_series'),
        exec.raw('(SELECT count(*) FROM dicom_instance x WHERE x.study_uid = s.study_uid) AS n_instances'),
        exec.raw(
          "(SELECT string_agg(DISTINCT x.modality, '\\') FROM dicom_series x WHERE x.study_uid = s.study_uid) AS modalities",
        ),
      )
      .orderBy([{ column: 's.study_date', order: 'desc', nulls: 'last' }, { column: 's.study_uid' }]);
  const series = exec('dicom_series as se')
    .join('dicom_study as s', 's.study_uid', 'se.study_uid')
    .select('s.study_uid', 's.attrs as study_attrs', 'se.series_uid', 'se.attrs as series_attrs');
  if (level === 'series')
    return series
      .select(
        exec.raw('(SELECT count(*) FROM dicom_instance x WHERE x.series_uid = se.series_uid) AS n_instances'),
      )
      .orderBy([
        { column: 's.study_uid' },
        { column: 'se.series_number', nulls: 'last' },
        { column: 'se.series_uid' },
      ]);
  return series
    .join('dicom_instance as i', 'i.series_uid', 'se.series_uid')
    .select('i.sop_uid', 'i.metadata')
    .orderBy([
      { column: 'se.series_uid' },
      { column: 'i.instance_number', nulls: 'last' },
      { column: 'i.sop_uid' },
    ]);
}

async function renderRows(
  exec: Knex | Knex.Transaction,
  level: Level,
  rows: Record<string, unknown>[],
  include: Set<string>,
  includeAll: boolean,
  withStudy: boolean,
  withSeries: boolean,
  deps: DicomWebDeps,
): Promise<DicomJson[]> {
  const out: DicomJson[] = [];
  for (const r of rows) {
    const studyAttrs = JSON.parse(r.study_attrs as string) as DicomJson;
    const study = String(r.study_uid);
    let json: DicomJson;
    if (level === 'study') {
      json = includeAll ? { ...studyAttrs } : pick(studyAttrs, [...DEFAULT_RETURN.study, ...include]);
      json['00080061'] = {
        vr: 'CS',
        Value: (typeof r.modalities === 'string' ? r.modalities : '').split('\\').filter(Boolean),
      };
      json['00201206'] = { vr: 'IS', Value: [Number(r.n_series)] };
      json['00201208'] = { vr: 'IS', Value: [Number(r.n_instances)] };
      json['00081190'] = { vr: 'UR', Value: [studyUrl(deps, study)] };
    } else {
      const seriesAttrs = JSON.parse(r.series_attrs as string) as DicomJson;
      const series = String(r.series_uid);
      const base = level === 'series' || withSeries ? seriesAttrs : {};
      json = {
        ...(withStudy && pick(studyAttrs, [...DEFAULT_RETURN.study, ...include])),
        ...(includeAll && level === 'series' ? base : pick(base, [...DEFAULT_RETURN.series, ...include])),
      };
      if (level === 'series') {
        json['00201209'] = { vr: 'IS', Value: [Number(r.n_instances)] };
        json['00081190'] = { vr: 'UR', Value: [`${studyUrl(deps, study)}/series/${series}`] };
      } else {
        const meta = JSON.parse(r.metadata as string) as DicomJson;
        const own = includeAll ? meta : pick(meta, [...DEFAULT_RETURN.instance, ...include]);
        for (const [t, a] of Object.entries(own)) if (!a.BulkDataURI) json[t] = a;
        json['00081190'] = { vr: 'UR', Value: [instanceUrl(deps, study, series, String(r.sop_uid))] };
      }
      json['0020000D'] = { vr: 'UI', Value: [study] };
      json['0020000E'] = { vr: 'UI', Value: [series] };
    }
    json['00080056'] = { vr: 'CS', Value: ['ONLINE'] };
    // Requested attributes kept only at a lower level come from one of the study's instances.
    const missing = [...include].filter(
      (t) => !(t in json) && !STUDY_TAGS.includes(t) && !SERIES_TAGS.includes(t),
    );
    if (missing.length > 0 && level !== 'instance') {
      const sample: { metadata: string } | undefined = await exec('dicom_instance')
        .where(level === 'study' ? { study_uid: study } : { series_uid: String(r.series_uid) })
        .first('metadata');
      if (sample) Object.assign(json, pick(JSON.parse(sample.metadata) as DicomJson, missing));
    }
    out.push(sortTags(json));
  }
  return out;
}

export function sortTags(json: DicomJson): DicomJson {
  return Object.fromEntries(Object.entries(json).sort(([a], [b]) => (a < b ? -1 : 1)));
}
