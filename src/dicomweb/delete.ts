import { FhirError } from '../shared';
import { releaseBlobs } from '../storage';
import { syncImagingStudy } from './imaging-study';
import { pruneEmpty } from './store';
import type { DicomWebDeps, DicomWebRequest, DicomWebResponse } from './types';
import { imagingDeps } from './urls';

/**
 * Deletes a study, series or instance (as Microsoft's DICOM service does). The index rows and the
 * ImagingStudy change in one transaction; files are removed once nothing refers to them.
 */
export async function deleteHandler(req: DicomWebRequest, deps: DicomWebDeps): Promise<DicomWebResponse> {
  const [, study = '', , series, , sop] = req.segments;
  const keys = await deps.repo.transaction(async (repo) => {
    const exec = await repo.reader();
    const q = exec('dicom_instance').where('study_uid', study);
    if (series) void q.where('series_uid', series);
    if (sop) void q.where('sop_uid', sop);
    const rows: { sop_uid: string; blob_key: string }[] = await q
      .clone()
      .forUpdate()
      .select('sop_uid', 'blob_key');
    if (rows.length === 0) throw FhirError.of('not-found', 'No such study, series or instance');
    await q.delete();
    await pruneEmpty(exec, study);
    await syncImagingStudy(repo, req.access, imagingDeps(deps), study);
    return rows.map((r) => r.blob_key);
  });
  await releaseBlobs(await deps.repo.reader(), deps.blobs, keys);
  return { status: 204 };
}
