export { JobQueue } from './queue';
export type { Job, JobStatus, JobStateName, QueueSpec } from './queue';
