export { recordDeidentification, CHANGE_LOG_EXTENSION } from './deid-trace';
export type { DeidRun } from './deid-trace';
