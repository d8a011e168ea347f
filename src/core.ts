import path from 'node:path';
import { loadManifest } from './ai';
import type { Config } from './config';
import {
  ConfidentialityTable,
  createTextDeidentifier,
  DeidProfiles,
  OnnxTokenDetector,
  Pseudonymizer,
} from './deid';
import { createDicomWebDeps } from './dicomweb';
import type { DicomWebDeps } from './dicomweb';
import type { FhirDeps, FhirHandler } from './fhir';
import {
  createAsyncWorker,
  createFhirDispatcher,
  createIntegrityHook,
  createLibraryLoader,
  FHIR_ASYNC_QUEUE,
  ProfileRegistry,
  Validator,
} from './fhir';
import { JobQueue } from './jobs';
import type { KeyStore } from './keys';
import { FileKeyStore } from './keys';
import { OcrEngine } from './ocr';
import { createPipeline } from './pipeline';
import { createSearchIndexer, SearchParamRegistry } from './search';
import type { Clock, Logger } from './shared';
import { silenceLibraryLogs, storableResourceTypes, systemOnlyPolicy } from './shared';
import type { ChangeBus, Database, RepositoryDeps, WriteHook } from './storage';
import {
  createAnalyzeHook,
  FileBlobStore,
  isEmbedded,
  migrate,
  openChangeBus,
  openDatabase,
  Repository,
} from './storage';
import { ValueSetExpander } from './terminology';

/** What opens while the listener answers as a starting server: models (checked first), then the database. */
export interface Storage {
  db: Database;
  nerModels: OnnxTokenDetector[];
}

export async function openStorage(config: Config): Promise<Storage> {
  // Models first: a missing or altered model stops the start before anything is opened.
  const nerModels = await Promise.all(
    config.deidNerModels.map(async (name) =>
      OnnxTokenDetector.load(await loadManifest(config.modelsDir, name)),
    ),
  );
  const db = await openDatabase(config);
  await migrate(db);
  return { db, nerModels };
}

/** Secrets from configuration, the rest generated once under DATA_DIR/keys. */
export function createKeyStore(config: Config): KeyStore {
  return new FileKeyStore(path.join(config.dataDir, 'keys'), {
    secrets: { cookie: config.keys.cookie, master: config.keys.master },
    signingJwks: config.keys.signingJwks,
  });
}

/** Every dependency of the API and the workers, built explicitly (no module singletons). */
export interface Core {
  db: Database;
  keys: KeyStore;
  /** Tells every API process that something cached went stale. */
  bus: ChangeBus;
  repo: Repository;
  jobs: JobQueue;
  fhir: FhirDeps;
  dicomweb: DicomWebDeps;
  dispatch: FhirHandler;
  /** Starts this process's workers on every queue (WORKER_CONCURRENCY each). */
  startWorkers(): Promise<void>;
  close(): Promise<void>;
}

export async function buildCore(
  config: Config,
  storage: Storage,
  logger: Logger,
  clock: Clock,
  baseUrl: string,
): Promise<Core> {
  silenceLibraryLogs();
  const { db, nerModels } = storage;
  const keys = createKeyStore(config);
  const bus = await openChangeBus(config, db, logger);
  const fhirBase = `${baseUrl}/fhir`;
  const registry = new SearchParamRegistry();
  const hooks: WriteHook[] = [createSearchIndexer(registry, fhirBase)];
  if (config.referentialIntegrity) hooks.push(createIntegrityHook());
  if (isEmbedded(config)) hooks.push(createAnalyzeHook(db, logger));
  const blobs = new FileBlobStore(path.join(config.dataDir, 'blobs'));
  const repoDeps: RepositoryDeps = { db, blobs, clock, policy: systemOnlyPolicy, hooks, fhirBase };
  const repo = new Repository(repoDeps);
  const jobs = new JobQueue(
    db,
    config.databaseSchema ? `${config.databaseSchema}_jobs` : 'pgboss',
    logger,
    config.jobPollSeconds,
    config.jobMaintenanceSeconds,
  );
  const textDeid = createTextDeidentifier(nerModels);
  // One OCR thread per concurrent job, so pipeline workers do not queue behind each other.
  const ocr = new OcrEngine(undefined, Math.max(1, config.workerConcurrency));

  const deidProfiles = new DeidProfiles(createLibraryLoader(repo, registry, clock, fhirBase));
  const pseudonyms = new Pseudonymizer(
    config.deidKey ?? { id: config.deidKeyId, secret: await keys.secret('deid') },
  );
  const pipeline = await createPipeline({
    repo,
    ocr,
    clock,
    logger,
    jobs,
    fhirBase,
    repoDeps,
    text: textDeid,
    deidProfiles,
    expireInSeconds: config.jobExpireSeconds,
    registry,
  });
  if (config.pipeline) hooks.push(pipeline.trigger);
  await jobs.start([FHIR_ASYNC_QUEUE, pipeline.queue]);
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
    pseudonyms,
  };
  const dicomweb = createDicomWebDeps({
    repo,
    blobs,
    registry,
    clock,
    logger,
    fhirBase,
    base: `${baseUrl}/dicom-web`,
    deid: { table: new ConfidentialityTable(), pseudonyms, text: textDeid, profiles: deidProfiles, ocr },
    config: {
      maxInstanceBytes: config.dicomMaxInstanceBytes,
      parseInMemoryBytes: config.dicomParseInMemoryBytes,
      maxFrames: config.dicomMaxFrames,
      maxFramePixels: config.dicomMaxFramePixels,
      inlineBinaryBytes: config.dicomInlineBinaryBytes,
      commitWaitMs: config.dicomCommitWaitMs,
      patientIdSystem: config.dicomPatientIdSystem,
      peers: config.dicomWebPeers,
    },
  });
  const dispatch = createFhirDispatcher();
  return {
    db,
    keys,
    bus,
    repo,
    jobs,
    fhir,
    dicomweb,
    dispatch,
    async startWorkers() {
      if (config.workerConcurrency <= 0) return;
      await jobs.work(
        FHIR_ASYNC_QUEUE.name,
        config.workerConcurrency,
        createAsyncWorker(dispatch, fhir, logger),
      );
      if (config.pipeline) await jobs.work(pipeline.queue.name, config.workerConcurrency, pipeline.run);
    },
    async close() {
      await dicomweb.imports.stop();
      await jobs.stop(config.shutdownTimeoutMs);
      await ocr.close();
      for (const model of nerModels) await model.close();
      await bus.close();
      await db.destroy();
    },
  };
}
