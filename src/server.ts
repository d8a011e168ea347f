import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Config } from './config';
import type { FhirDeps } from './fhir';
import {
  createAsyncWorker,
  createFhirDispatcher,
  createIntegrityHook,
  createLibraryLoader,
  FHIR_ASYNC_QUEUE,
  ProfileRegistry,
  Validator,
} from './fhir';
import { loadManifest } from './ai';
import {
  ConfidentialityTable,
  createTextDeidentifier,
  DeidProfiles,
  OnnxTokenDetector,
  Pseudonymizer,
} from './deid';
import { createDicomWebDeps } from './dicomweb';
import { createApp, createMetrics } from './http';
import { JobQueue } from './jobs';
import { OcrEngine } from './ocr';
import type { InFlight } from './http';
import { createSearchIndexer, SearchParamRegistry } from './search';
import type { Clock, Logger } from './shared';
import { storableResourceTypes, systemClock, systemOnlyPolicy } from './shared';
import type { Database, WriteHook } from './storage';
import { createAnalyzeHook, FileBlobStore, isEmbedded, migrate, openDatabase, Repository } from './storage';
import { ValueSetExpander } from './terminology';

export interface RunningServer {
  url: string;
  fhirBase: string;
  db: Database;
  repo: Repository;
  inFlight: InFlight;
  /** Stops accepting connections, lets in-flight requests finish, then closes the database. */
  close(): Promise<void>;
}

/** The composition root: builds every dependency explicitly (no module singletons) and listens. */
export async function startServer(
  config: Config,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<RunningServer> {
  // Models first: a missing or altered model stops the start before anything is opened.
  const nerModels = await Promise.all(
    config.deidNerModels.map(async (name) =>
      OnnxTokenDetector.load(await loadManifest(config.modelsDir, name)),
    ),
  );
  const db = await openDatabase(config);
  await migrate(db);
  const inFlight: InFlight = { count: 0 };
  let handler: http.RequestListener = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
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

  const registry = new SearchParamRegistry();
  const hooks: WriteHook[] = [createSearchIndexer(registry, fhirBase)];
  if (config.referentialIntegrity) hooks.push(createIntegrityHook());
  if (isEmbedded(config)) hooks.push(createAnalyzeHook(db, logger));
  const blobs = new FileBlobStore(path.join(config.dataDir, 'blobs'));
  const repo = new Repository({
    db,
    blobs,
    clock,
    policy: systemOnlyPolicy,
    hooks,
    fhirBase,
  });
  const jobs = new JobQueue(
    db,
    config.databaseSchema ? `${config.databaseSchema}_jobs` : 'pgboss',
    logger,
    config.jobPollSeconds,
  );
  await jobs.start([FHIR_ASYNC_QUEUE]);
  const textDeid = createTextDeidentifier(nerModels);
  const ocr = new OcrEngine();
  const deidProfiles = new DeidProfiles(createLibraryLoader(repo, registry, clock, fhirBase));
  const pseudonyms = config.deidKey && new Pseudonymizer(config.deidKey);
  const fhir: FhirDeps = {
    repo,
    registry,
    validator: new Validator(
      new ValueSetExpander(),
      new ProfileRegistry(path.resolve(__dirname, '..', 'profiles')),
    ),
    config,
    clock,
    fhirBase,
    resourceTypes: new Set(storableResourceTypes()),
    deid: textDeid,
    deidProfiles,
    jobs,
    ...(pseudonyms && { pseudonyms }),
  };
  const dicomweb = createDicomWebDeps({
    repo,
    blobs,
    registry,
    clock,
    logger,
    fhirBase,
    base: `${baseUrl}/dicom-web`,
    ...(config.deidKey && {
      deid: {
        table: new ConfidentialityTable(),
        pseudonyms: new Pseudonymizer(config.deidKey),
        text: textDeid,
        profiles: deidProfiles,
        ocr,
      },
    }),
    config: {
      maxInstanceBytes: config.dicomMaxInstanceBytes,
      maxFrames: config.dicomMaxFrames,
      maxFramePixels: config.dicomMaxFramePixels,
      inlineBinaryBytes: config.dicomInlineBinaryBytes,
      patientIdSystem: config.dicomPatientIdSystem,
      peers: config.dicomWebPeers,
    },
  });
  const dispatch = createFhirDispatcher();
  if (config.workerConcurrency > 0)
    await jobs.work(
      FHIR_ASYNC_QUEUE.name,
      config.workerConcurrency,
      createAsyncWorker(dispatch, fhir, logger),
    );
  const metrics = createMetrics();
  const app = createApp(
    {
      fhir,
      dicomweb,
      dispatch,
      db,
      logger,
      metrics,
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
      await dicomweb.imports.stop();
      await jobs.stop(config.shutdownTimeoutMs);
      await ocr.close();
      for (const model of nerModels) await model.close();
      await db.destroy();
      logger.info('stopped');
    })();
    return closing;
  };
  return { url: baseUrl, fhirBase, db, repo, inFlight, close };
}
