import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertDevelopmentHost, createAuth } from './auth';
import type { Config } from './config';
import type { Core } from './core';
import { buildCore, openStorage } from './core';
import { createApp, createMetrics, startingListener } from './http';
import type { InFlight } from './http';
import type { Clock, Logger } from './shared';
import { SYSTEM_ACCESS, systemClock } from './shared';
import type { JobQueue } from './jobs';
import type { Database, Repository } from './storage';

export interface RunningServer {
  url: string;
  fhirBase: string;
  db: Database;
  repo: Repository;
  /** The job queue (tests re-deliver jobs through it to check a run is idempotent). */
  jobs: JobQueue;
  inFlight: InFlight;
  /** Stops accepting connections, lets in-flight requests finish, then closes the database. */
  close(): Promise<void>;
}

export interface StartHooks {
  /**
   * Runs once the port answers as a starting server does, before the database is opened: the
   * start waits for it (tests look at a starting server here).
   */
  whileStarting?: (url: string) => Promise<void>;
}

/**
 * The composition root: builds every dependency explicitly (no module singletons). The port is
 * bound first and answers as a starting server (/healthz 200, everything else 503 with
 * Retry-After) while models load and migrations run, so an orchestrator neither restarts the
 * process nor sends it traffic before it can serve.
 */
export async function startServer(
  config: Config,
  logger: Logger,
  clock: Clock = systemClock,
  hooks: StartHooks = {},
): Promise<RunningServer> {
  // AUTH_REQUIRED=false on a non-loopback HOST is refused before anything opens.
  assertDevelopmentHost(config);
  const inFlight: InFlight = { count: 0 };
  let handler: http.RequestListener = startingListener();
  let shuttingDown = false;
  const server = http.createServer((req, res) => {
    if (shuttingDown) res.setHeader('Connection', 'close');
    // A keep-alive connection whose last request ends during shutdown is closed at once, rather
    // than after the keep-alive timeout, so close() does not wait for it.
    res.once('finish', () => {
      if (shuttingDown) server.closeIdleConnections();
    });
    handler(req, res);
  });
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.headersTimeout = config.keepAliveTimeoutMs + 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  // With PORT=0 (tests) the real port is only known now.
  const baseUrl = config.port === 0 ? `http://${config.host}:${port}` : config.baseUrl;
  const fhirBase = `${baseUrl}/fhir`;
  logger.info({ url: baseUrl }, 'starting');

  let core: Core;
  try {
    await hooks.whileStarting?.(baseUrl);
    core = await buildCore(config, await openStorage(config), logger, clock, baseUrl);
  } catch (err) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    throw err;
  }
  const { db, repo, fhir, dicomweb, dispatch } = core;
  const auth = await createAuth({
    config,
    db,
    keys: core.keys,
    bus: core.bus,
    clock,
    logger,
    fhirUserExists: async (reference) => {
      const [type = '', id = ''] = reference.split('/');
      const stored = await repo.readStored(SYSTEM_ACCESS, type, id);
      return stored !== undefined && !stored.deleted;
    },
  }).catch(async (err: unknown) => {
    // A refused start (a bad SMART_CLIENTS_FILE entry) leaves nothing open behind it.
    await new Promise((resolve) => server.close(resolve));
    await core.close();
    throw err;
  });
  await core.startWorkers();
  const metrics = createMetrics();
  const app = createApp(
    {
      fhir,
      dicomweb,
      dispatch,
      db,
      logger,
      metrics,
      auth,
      trustProxy: config.trustProxy,
      limits: {
        maxBytes: config.maxBodyBytes,
        maxDepth: config.maxJsonDepth,
        maxArrayItems: config.maxJsonArrayItems,
      },
    },
    inFlight,
  );
  const callback = app.callback();
  handler = (req, res) => void callback(req, res);
  await dicomweb.imports.resume();
  logger.info({ url: baseUrl }, 'listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      shuttingDown = true;
      logger.info({ inFlight: inFlight.count }, 'shutting down');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.closeAllConnections();
          resolve();
        }, config.shutdownTimeoutMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
      auth.close();
      await core.close();
      logger.info('stopped');
    })();
    return closing;
  };
  return { url: baseUrl, fhirBase, db, repo, jobs: core.jobs, inFlight, close };
}
