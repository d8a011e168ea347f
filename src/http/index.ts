export { createApp } from './app';
export type { AppDeps, InFlight } from './app';
export { createMetrics } from './metrics';
export type { Metrics } from './metrics';
export type { BodyLimits } from './body';
export { startingListener } from './starting';
