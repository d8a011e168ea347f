import type { DicomDeidProfile } from '../deid';
import { DICOM_PROFILES, deidentifyDicom } from '../deid';
import { recordDeidentification } from '../audit';
import { FhirError } from '../shared';
import type { ChangeLogEntry } from '../deid';
import { imagingStudyId } from './imaging-study';
import { mediaTypeParams } from './multipart';
import { ingestFiles } from './stow';
import type { DicomWebDeps, DicomWebRequest, DicomWebResponse } from './types';
import { studyUrl } from './urls';
import { selectInstances } from './wado';

async function readProfile(req: DicomWebRequest): Promise<DicomDeidProfile> {
  const chunks: Buffer[] = [];
  for await (const chunk of req.body ?? []) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8').trim();
  if (raw === '') return DICOM_PROFILES.basic as DicomDeidProfile;
  if (mediaTypeParams(req.headers.contentType ?? '').type !== 'application/json')
    throw new FhirError(415, { code: 'not-supported', message: 'The request body is application/json' });
  let name: unknown;
  try {
    name = (JSON.parse(raw) as { profile?: unknown }).profile ?? 'basic';
  } catch {
    throw FhirError.of('invalid', 'The request body must be JSON');
  }
  const profile = typeof name === 'string' ? DICOM_PROFILES[name] : undefined;
  if (!profile)
    throw new FhirError(400, {
      code: 'invalid',
      message: `Unknown de-identification profile; known: ${Object.keys(DICOM_PROFILES).join(', ')}`,
      expression: 'profile',
    });
  return profile;
}

/**
 * POST /dicom-web/studies/{study}/$deidentify: a de-identified copy of the study, under new UIDs,
 * stored through the STOW-RS ingest path (so it gets its own ImagingStudy); the original stays.
 * Instances that may show identity in their pixels are quarantined and listed, not copied.
 */
export async function deidentifyHandler(req: DicomWebRequest, deps: DicomWebDeps): Promise<DicomWebResponse> {
  const profile = await readProfile(req);
  const deid = deps.deid;
  if (!deid)
    throw new FhirError(503, {
      code: 'exception',
      message: 'De-identification needs DEID_KEY to be configured',
    });
  const rows = await selectInstances({ ...req, segments: req.segments.slice(0, 2) }, deps);
  const files: Buffer[] = [];
  const quarantined: { instance: number; reason: string }[] = [];
  const changes = new Map<string, ChangeLogEntry>();
  for (const [n, row] of rows.entries()) {
    const result = deidentifyDicom(await deps.blobs.readAll(row.blob_key), profile, deid);
    if (result.status === 'quarantined') {
      quarantined.push({ instance: n + 1, reason: result.reason });
      continue;
    }
    files.push(result.file);
    for (const c of result.changes) {
      const key = `${c.attribute} ${c.action}`;
      const sum = changes.get(key) ?? { ...c, count: 0 };
      sum.count += c.count;
      changes.set(key, sum);
    }
  }
  const outcomes = files.length > 0 ? await ingestFiles(files, req.access, deps) : [];
  const stored = outcomes.filter((o) => o.stored);
  const study = stored[0]?.stored?.parsed.studyUid;
  const trace = await recordDeidentification(deps.repo, req.access, deps.clock, {
    kind: 'dicom',
    profile: `${profile.name} ${profile.version}`,
    targets: study ? [{ reference: `ImagingStudy/${imagingStudyId(study)}` }] : [],
    sources: [{ reference: `ImagingStudy/${imagingStudyId(rows[0]?.study_uid ?? '')}` }],
    changeLog: { changes: [...changes.values()], quarantined: quarantined.length },
  });
  return {
    status: stored.length > 0 ? 200 : 409,
    contentType: 'application/json',
    body: JSON.stringify({
      profile: `${profile.name} ${profile.version}`,
      ...(study && { study, retrieveUrl: studyUrl(deps, study) }),
      stored: stored.length,
      ...(trace.provenance && { provenance: `Provenance/${trace.provenance}` }),
      auditEvent: `AuditEvent/${trace.auditEvent}`,
      failed: outcomes.length - stored.length,
      quarantined,
      changes: [...changes.values()],
    }),
  };
}
