import type { AccessContext } from '../shared';
import { releaseBlobs } from '../storage';
import { CommitBatcher } from './commit-batcher';
import { imagingStudyId, syncImagingStudy } from './imaging-study';
import type { StoredInstance } from './store';
import { indexInstances } from './store';
import type { DicomWebBase, StudyCommits } from './types';
import { imagingDeps } from './urls';

interface Pending {
  studyUid: string;
  access: AccessContext;
  instance: StoredInstance;
}

export function createStudyCommits(deps: DicomWebBase): StudyCommits {
  const batcher = new CommitBatcher<Pending, void>(async (_key, items) => {
    const first = items[0];
    if (!first) return;
    await commit(
      deps,
      first.studyUid,
      first.access,
      items.map((i) => i.instance),
    );
  }, deps.config.commitWaitMs);
  // Only requests of the same actor share a transaction: each write is made under its access.
  const keyOf = (studyUid: string, access: AccessContext): string =>
    JSON.stringify([studyUid, access.kind, access.actor, access.roles]);
  return {
    announce: (access) => {
      const arrival = batcher.announce();
      return {
        study: (studyUid) => {
          arrival.keyed(keyOf(studyUid, access));
        },
        done: () => {
          arrival.done();
        },
      };
    },
    submit: (studyUid, access, instances) =>
      batcher.submit(
        keyOf(studyUid, access),
        instances.map((instance) => ({ studyUid, access, instance })),
      ),
  };
}

/**
 * Index rows and the ImagingStudy are written in one transaction, so after a crash either both
 * exist or neither. Blobs of instances that were replaced are released after the commit.
 */
async function commit(
  deps: DicomWebBase,
  studyUid: string,
  access: AccessContext,
  instances: StoredInstance[],
): Promise<void> {
  const { replacedBlobs } = await deps.repo.transaction(async (repo) => {
    const result = await indexInstances(
      await repo.reader(),
      studyUid,
      imagingStudyId(studyUid),
      instances,
      deps.clock.now(),
    );
    if (result.study) {
      await syncImagingStudy(repo, access, imagingDeps(deps), studyUid, result.study);
      for (const uid of result.otherStudies) await syncImagingStudy(repo, access, imagingDeps(deps), uid);
    }
    return result;
  });
  await releaseBlobs(await deps.repo.reader(), deps.blobs, replacedBlobs);
}
