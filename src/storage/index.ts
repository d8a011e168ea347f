export {
  openDatabase,
  isEmbedded,
  isRetryableDbError,
  withAdvisoryLock,
  withConnection,
  JOB_QUEUE_LOCK,
} from './database';
export type { Database, Executor } from './database';
export { migrate, INDEX_TABLES } from './migrations';
export type { IndexTable } from './migrations';
export { FileBlobStore, BlobTooLargeError } from './blob-store';
export { releaseBlobs } from './blob-refs';
export type { BlobStore, BlobInfo, BlobReader } from './blob-store';
export { Repository } from './repository';
export { createAnalyzeHook } from './analyze';
export type { RepositoryDeps, WriteResult, UpdateOptions } from './repository';
export { TxScope } from './scope';
export { parseLocalReference, collectLocalReferences, findReferrers } from './references';
export type { LocalReference } from './references';
export type * from './types';
export { openChangeBus, RESET } from './change-bus';
export type { ChangeBus } from './change-bus';
