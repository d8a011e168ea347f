import type { ParamType } from '../params';
import { dateStrategy } from './date';
import { numberStrategy } from './number';
import { quantityStrategy } from './quantity';
import { referenceStrategy } from './reference';
import { stringStrategy } from './string';
import { tokenStrategy } from './token';
import type { IndexStrategy } from './types';
import { uriStrategy } from './uri';

export type { IndexStrategy, IndexRow, MatchContext, SqlFragment } from './types';
export { dateCondition } from './date';

const STRATEGIES: Partial<Record<ParamType, IndexStrategy>> = {
  token: tokenStrategy,
  string: stringStrategy,
  date: dateStrategy,
  number: numberStrategy,
  quantity: quantityStrategy,
  reference: referenceStrategy,
  uri: uriStrategy,
};

/** undefined for composite and special parameters, which are not indexed yet. */
export function strategyFor(type: ParamType): IndexStrategy | undefined {
  return STRATEGIES[type];
}
