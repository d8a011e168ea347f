import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/**
 * Logs carry ids, routes, statuses and timings only. Resource bodies, query strings and
 * headers other than the request id never reach the logger: query strings can hold PHI
 * (e.g. `Patient?name=...`), so only the route pattern is logged.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'fhir-dicomweb-server', pid: process.pid },
    redact: { paths: ['req.headers.authorization', 'body', 'resource', 'query'], remove: true },
  };
  return destination ? pino(options, destination) : pino(options);
}
