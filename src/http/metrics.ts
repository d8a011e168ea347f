import type { Middleware } from 'koa';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  requests: Counter<'interaction' | 'method' | 'status'>;
  duration: Histogram<'interaction' | 'method'>;
}

/** One registry per server instance (no global default registry), so tests can run several servers. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'fhir_http_requests_total',
      help: 'HTTP requests by FHIR interaction, method and status',
      labelNames: ['interaction', 'method', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'fhir_http_request_duration_seconds',
      help: 'HTTP request latency by FHIR interaction',
      labelNames: ['interaction', 'method'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}

export function metricsEndpoint(metrics: Metrics): Middleware {
  return async (ctx) => {
    ctx.set('Content-Type', metrics.registry.contentType);
    ctx.body = await metrics.registry.metrics();
  };
}
