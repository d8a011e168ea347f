import { createHash } from 'node:crypto';
import type { Endpoint, HumanName, ImagingStudy, ImagingStudySeries, Patient } from '@medplum/fhirtypes';
import type { SearchParamRegistry } from '../search';
import { executeSearch, parseSearch } from '../search';
import type { AccessContext } from '../shared';
import { FhirError } from '../shared';
import type { Repository } from '../storage';
import type { DicomJson } from './dicom-json';
import { firstString } from './dicom-json';
import type { SeriesRow, StudyRow } from './store';

export interface ImagingStudyDeps {
  registry: SearchParamRegistry;
  fhirBase: string;
  /** `${baseUrl}/dicom-web` */
  dicomWebBase: string;
  patientIdSystem: string;
}

export const ENDPOINT_ID = 'dicom-wado-rs';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

/**
 * R4 ImagingStudy ids must match [A-Za-z0-9.-]{1,64}, which every valid UID does; using the UID
 * keeps one ImagingStudy per study without a lookup table.
 */
export function imagingStudyId(studyUid: string): string {
  return studyUid;
}

/**
 * Rewrites the study's ImagingStudy from the DICOM index, inside the caller's transaction, so
 * both change together or not at all. An unchanged study makes no new version.
 */
export async function syncImagingStudy(
  repo: Repository,
  access: AccessContext,
  deps: ImagingStudyDeps,
  studyUid: string,
  /** The study row when the caller just wrote it. */
  known?: StudyRow,
): Promise<void> {
  const exec = await repo.reader();
  const study =
    known ?? ((await exec('dicom_study').where('study_uid', studyUid).first()) as StudyRow | undefined);
  const id = imagingStudyId(studyUid);
  if (!study) {
    await repo.delete(access, 'ImagingStudy', id);
    return;
  }
  // Series with their instances in one query: each series row carries its instances as JSON.
  const series: (SeriesRow & { instances: string | [string, string, number | null][] })[] = await exec(
    'dicom_series as s',
  )
    .where('s.study_uid', studyUid)
    .orderBy([{ column: 's.series_number' }, { column: 's.series_uid' }])
    .select(
      's.*',
      exec.raw(
        `(SELECT coalesce(json_agg(json_build_array(i.sop_uid, i.sop_class_uid, i.instance_number)
            ORDER BY i.instance_number, i.sop_uid), '[]')
          FROM dicom_instance i WHERE i.series_uid = s.series_uid AND i.study_uid = s.study_uid) AS instances`,
      ),
    );
  const attrs = JSON.parse(study.attrs) as DicomJson;
  const key = patientKey(deps, attrs);
  let patient = study.patient_ref_key === key ? study.patient_ref : null;
  if (!patient) {
    patient = await findOrCreatePatient(repo, access, deps, attrs, key);
    await exec('dicom_study')
      .where('study_uid', studyUid)
      .update({ patient_ref: patient, patient_ref_key: key });
  }

  const bySeries = new Map<string, ImagingStudySeries>();
  for (const s of series) {
    const sAttrs = JSON.parse(s.attrs) as DicomJson;
    const bodyPart = firstString(sAttrs, '00180015');
    bySeries.set(s.series_uid, {
      uid: s.series_uid,
      ...(s.series_number !== null && { number: s.series_number }),
      modality: { system: DCM, code: s.modality ?? 'OT' },
      ...(s.series_description && { description: s.series_description }),
      ...(bodyPart && { bodySite: { display: bodyPart } }),
      endpoint: [{ reference: `Endpoint/${ENDPOINT_ID}` }],
      instance: [],
    });
  }
  let numberOfInstances = 0;
  for (const s of series) {
    // PGlite hands json back as text, node-postgres parses it.
    const list =
      typeof s.instances === 'string' ? (JSON.parse(s.instances) as typeof s.instances) : s.instances;
    for (const [uid, sopClass, number] of list as [string, string, number | null][]) {
      numberOfInstances++;
      bySeries.get(s.series_uid)?.instance?.push({
        uid,
        sopClass: { system: 'urn:ietf:rfc:3986', code: `urn:oid:${sopClass}` },
        ...(number !== null && { number }),
      });
    }
  }
  const seriesList = [...bySeries.values()].map((s) => ({
    ...s,
    numberOfInstances: s.instance?.length ?? 0,
  }));
  const modalities = [...new Set(series.map((s) => s.modality ?? 'OT'))];
  const accession = firstString(attrs, '00080050');
  const description = firstString(attrs, '00081030');
  const started = startedOf(attrs);
  const resource: ImagingStudy = {
    resourceType: 'ImagingStudy',
    id,
    identifier: [
      { system: 'urn:dicom:uid', value: `urn:oid:${studyUid}` },
      ...(accession
        ? [
            {
              type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'ACSN' }] },
              value: accession,
            },
          ]
        : []),
    ],
    status: 'available',
    modality: modalities.map((code) => ({ system: DCM, code })),
    subject: { reference: `Patient/${patient}` },
    ...(started && { started }),
    endpoint: [{ reference: `Endpoint/${ENDPOINT_ID}` }],
    numberOfSeries: seriesList.length,
    numberOfInstances,
    ...(description && { description }),
    series: seriesList,
  };
  // Referential integrity is checked at commit, so the Endpoint can follow its first referrer.
  const { created } = await repo.update(access, resource);
  if (created) await ensureEndpoint(repo, access, deps);
}

/** What identifies the study's patient: PatientID in the configured system, else the study itself. */
function patientKey(deps: ImagingStudyDeps, attrs: DicomJson): string {
  const pid = firstString(attrs, '00100020');
  return pid ? `${deps.patientIdSystem}|${pid}` : `study|${firstString(attrs, '0020000D') ?? ''}`;
}

/** StudyDate/StudyTime as FHIR dateTime; a time needs a zone, so without one only the date is given. */
function startedOf(attrs: DicomJson): string | undefined {
  const date = firstString(attrs, '00080020');
  if (!date || !/^\d{8}$/.test(date)) return undefined;
  const day = `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}`;
  const time = firstString(attrs, '00080030');
  const tz = firstString(attrs, '00080201');
  if (!time || !tz || !/^\d{6}/.test(time) || !/^[+-]\d{4}$/.test(tz)) return day;
  return `${day}T${time.slice(0, 2)}:${time.slice(2, 4)}:${time.slice(4, 6)}${tz.slice(0, 3)}:${tz.slice(3)}`;
}

async function findOrCreatePatient(
  repo: Repository,
  access: AccessContext,
  deps: ImagingStudyDeps,
  attrs: DicomJson,
  key: string,
): Promise<string> {
  const pid = firstString(attrs, '00100020');
  const system = deps.patientIdSystem;
  if (pid) {
    const query = parseSearch('Patient', [['identifier', `${system}|${pid}`]], deps.registry, {
      strict: true,
      defaultCount: 1,
      maxCount: 1,
    });
    const page = await executeSearch(await repo.reader(), query, {
      fhirBase: deps.fhirBase,
      now: new Date(),
    });
    const found = page.contents[0];
    if (found) return (JSON.parse(found) as Patient).id ?? '';
  }
  // A deterministic id makes two studies of a new patient, stored concurrently, meet on one row.
  const id = `dicom-${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
  const name = personName(firstString(attrs, '00100010'));
  const sex = firstString(attrs, '00100040');
  const birth = firstString(attrs, '00100030');
  const patient: Patient = {
    resourceType: 'Patient',
    id,
    ...(pid && { identifier: [{ system, value: pid }] }),
    ...(name && { name: [name] }),
    ...(sex && { gender: sex === 'M' ? 'male' : sex === 'F' ? 'female' : sex === 'O' ? 'other' : 'unknown' }),
    ...(birth &&
      /^\d{8}$/.test(birth) && {
        birthDate: `${birth.slice(0, 4)}-${birth.slice(4, 6)}-${birth.slice(6, 8)}`,
      }),
  };
  try {
    await repo.create(access, patient, { id });
  } catch (err) {
    // Already there (its identifier changed since): the EHR's copy is kept as it is.
    if (!(err instanceof FhirError && err.status === 409)) throw err;
  }
  return id;
}

function personName(pn: string | undefined): HumanName | undefined {
  const alphabetic = pn?.split('=')[0];
  if (!alphabetic) return undefined;
  const [family, given, middle, prefix, suffix] = alphabetic.split('^').map((s) => s.trim());
  const givens = [given, middle].filter((s): s is string => !!s);
  const name: HumanName = {
    ...(family && { family }),
    ...(givens.length > 0 && { given: givens }),
    ...(prefix && { prefix: [prefix] }),
    ...(suffix && { suffix: [suffix] }),
  };
  return Object.keys(name).length > 0 ? name : undefined;
}

async function ensureEndpoint(
  repo: Repository,
  access: AccessContext,
  deps: ImagingStudyDeps,
): Promise<void> {
  const endpoint: Endpoint = {
    resourceType: 'Endpoint',
    id: ENDPOINT_ID,
    status: 'active',
    connectionType: {
      system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type',
      code: 'dicom-wado-rs',
    },
    name: 'DICOMweb WADO-RS',
    payloadType: [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/endpoint-payload-type', code: 'any' }] },
    ],
    payloadMimeType: ['application/dicom'],
    address: deps.dicomWebBase,
  };
  // A plain read first: update() locks the row, and every new study would queue behind that lock.
  const stored = await repo.readStored(access, 'Endpoint', ENDPOINT_ID);
  if (stored?.content && (JSON.parse(stored.content) as Endpoint).address === deps.dicomWebBase) return;
  await repo.update(access, endpoint);
}
