import dcmjs from 'dcmjs';
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

/**
 * dcmjs writes to the console on its own, some messages with element values in them (a name it
 * truncates, a whole patient module): PHI that would bypass the logger above. Its loggers are
 * silenced; what matters to a caller reaches it as a parse failure with a reason code instead.
 */
export function silenceLibraryLogs(): void {
  dcmjs.log.setLevel('silent');
  for (const name of ['validation.dcmjs', 'AsyncDicomReader']) dcmjs.log.getLogger(name).setLevel('silent');
}
