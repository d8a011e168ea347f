import type { DeidProfile, DeidProfiles } from '../deid';
import { ChangeLog, cleanBurnedInText, deidentifyDicom } from '../deid';
import { describeImage } from './codecs';
import type { DicomJson } from './dicom-json';
import type { PixelInfo } from './parse';
import { toExplicitLittleEndian } from './transcode';
import { recordDeidentification } from '../audit';
import { badRequest, FhirError } from '../shared';

import { imagingStudyId } from './imaging-study';
import { parseJsonBody, readSmallBody } from './json-body';
import { mediaTypeParams } from './multipart';
import { ingestFiles } from './stow';
import type { DicomWebDeps, DicomWebRequest, DicomWebResponse } from './types';
import { studyUrl } from './urls';
import { selectInstances } from './wado';

/** The profile named in an optional JSON body ({"profile": ...}); basic without one. */
async function readProfile(req: DicomWebRequest, profiles: DeidProfiles): Promise<DeidProfile> {
  const bytes = await readSmallBody(req.body, 64 * 1024);
  if (bytes.toString('utf8').trim() === '') return profiles.resolve(req.access, undefined, 'profile');
  if (mediaTypeParams(req.headers.contentType ?? '').type !== 'application/json')
    throw new FhirError(415, { code: 'not-supported', message: 'The request body is application/json' });
  const name = (parseJsonBody(bytes) as { profile?: unknown } | null)?.profile;
  if (name !== undefined && typeof name !== 'string') throw badRequest('profile must be a string', 'profile');
  return profiles.resolve(req.access, name, 'profile');
}

/**
 * POST /dicom-web/studies/{study}/$deidentify: a de-identified copy of the study, under new UIDs,
 * stored through the STOW-RS ingest path (so it gets its own ImagingStudy); the original stays.
 * Instances that may show identity in their pixels are quarantined and listed, not copied.
 */
export async function deidentifyHandler(req: DicomWebRequest, deps: DicomWebDeps): Promise<DicomWebResponse> {
  const deid = deps.deid;
  const profile = await readProfile(req, deid.profiles);
  const rows = await selectInstances({ ...req, segments: req.segments.slice(0, 2) }, deps);
  const quarantined: { instance: number; reason: string }[] = [];
  const changes = new ChangeLog();
  // Each copy is stored as soon as it is made: a study of thousands of instances is never in memory.
  async function* copies(): AsyncGenerator<Buffer> {
    for (const [n, row] of rows.entries()) {
      const file = await deps.blobs.readAll(row.blob_key);
      let result = await deidentifyDicom(file, profile, deid);
      if (result.status === 'quarantined' && profile.dicom.burnedInText === 'clean') {
        const { reason } = result;
        try {
          const pixel = row.pixel ? (JSON.parse(row.pixel) as PixelInfo) : undefined;
          const img = describeImage(JSON.parse(row.metadata) as DicomJson);
          const native = await toExplicitLittleEndian(file, row.transfer_syntax, pixel, img, deps.codecs);
          const cleaned = await cleanBurnedInText(native, deid.ocr);
          result = await deidentifyDicom(cleaned.file, profile, deid, cleaned.regions);
        } catch (err) {
          // Pixels that cannot be read cannot be cleaned: the instance stays out.
          result = {
            status: 'quarantined',
            reason: `${reason}; pixel cleaning failed (${(err as Error).message})`,
          };
        }
      }
      if (result.status === 'quarantined') {
        quarantined.push({ instance: n + 1, reason: result.reason });
        continue;
      }
      changes.add(result.changes);
      yield result.file;
    }
  }
  const outcomes = await ingestFiles(copies(), req.access, deps);
  const stored = outcomes.filter((o) => o.stored);
  const study = stored[0]?.stored?.parsed.studyUid;
  const trace = await recordDeidentification(deps.repo, req.access, deps.clock, {
    kind: 'dicom',
    profile: `${profile.name} ${profile.version}`,
    targets: study ? [{ reference: `ImagingStudy/${imagingStudyId(study)}` }] : [],
    sources: [{ reference: `ImagingStudy/${imagingStudyId(rows[0]?.study_uid ?? '')}` }],
    changeLog: { changes: changes.entries(), quarantined: quarantined.length },
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
      changes: changes.entries(),
    }),
  };
}
