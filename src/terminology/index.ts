export { ValueSetExpander } from './valuesets';
export type { Expansion } from './valuesets';
