import type { BlobStore } from './blob-store';
import type { Executor } from './database';

/**
 * Deletes blobs nothing refers to any more. Keys are content-addressed and shared by Binary
 * versions and DICOM instances, so every owner table is checked before a file goes.
 */
export async function releaseBlobs(exec: Executor, blobs: BlobStore, keys: Iterable<string>): Promise<void> {
  for (const key of new Set(keys)) {
    const instance: unknown = await exec('dicom_instance').where('blob_key', key).first('sop_uid');
    const binary: unknown = instance ?? (await exec('binary_blob').where('blob_key', key).first('id'));
    if (!instance && !binary) await blobs.delete(key);
  }
}
