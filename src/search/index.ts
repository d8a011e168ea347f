export { SearchParamRegistry, COLUMN_PARAMS } from './params';
export type { SearchParamDef, ParamType } from './params';
export { createSearchIndexer, extractIndexRows } from './indexer';
export { parseSearch, encodeCursor, decodeCursor } from './parse';
export type { SearchQuery, ParsedParam, Cursor, SortRule, ParseOptions } from './parse';
export { executeSearch, countMatches } from './query';
export type { SearchContext, SearchPage } from './query';
import type { ParamType } from './params';
import { strategyFor } from './strategies';

/** Whether parameters of this type are indexed and searchable. */
export function isSearchable(type: ParamType): boolean {
  return strategyFor(type) !== undefined;
}
