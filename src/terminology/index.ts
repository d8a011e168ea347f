export { ValueSetExpander } from './valuesets';
export type { Expansion } from './valuesets';
export { CriticalLimits, LabCatalog } from './labs';
export type { CriticalLimit, LabTest } from './labs';
export { RedFlagMatcher } from './red-flags';
export type { Mention, MentionStatus, RedFlagTerm } from './red-flags';
