import path from 'node:path';

export interface Config {
  readonly host: string;
  readonly port: number;
  /** Public base URL of the server (no trailing slash); FHIR base is `${baseUrl}/fhir`. */
  readonly baseUrl: string;
  readonly dataDir: string;
  /** postgres://... for PostgreSQL; unset for embedded PGlite in dataDir; "memory" for in-memory PGlite. */
  readonly databaseUrl: string | undefined;
  /** Schema to keep tables in (PostgreSQL only); lets several servers share one database. */
  readonly databaseSchema: string | undefined;
  readonly databasePoolMax: number;
  readonly maxBodyBytes: number;
  readonly maxJsonDepth: number;
  readonly maxJsonArrayItems: number;
  readonly referentialIntegrity: boolean;
  readonly defaultPageSize: number;
  readonly maxPageSize: number;
  readonly maxBundleEntries: number;
  readonly logLevel: string;
  readonly dicomMaxInstanceBytes: number;
  readonly dicomParseInMemoryBytes: number;
  readonly dicomMaxFrames: number;
  readonly dicomMaxFramePixels: number;
  readonly dicomInlineBinaryBytes: number;
  /** How long a study's commit waits for STOW-RS requests still being received, to commit them together. */
  readonly dicomCommitWaitMs: number;
  /** Patient.identifier system that DICOM PatientID maps to (set it to the hospital's MRN system). */
  readonly dicomPatientIdSystem: string;
  /**
   * DICOMweb peers this server may pull studies from, by name (DICOMWEB_PEERS="pacs=http://...,b=...").
   * Only these are ever fetched, so an import request cannot make the server call arbitrary URLs;
   * credentials for a peer go in its URL's userinfo.
   */
  readonly dicomWebPeers: Readonly<Record<string, string>>;
  readonly shutdownTimeoutMs: number;
  /** Whether report, document and lab writes start clinical pipeline runs. */
  readonly pipeline: boolean;
  /** Jobs each process runs at once per queue; 0 makes an API-only process. */
  readonly workerConcurrency: number;
  /** A running job not finished by then is taken as lost (its worker died) and retried. */
  readonly jobExpireSeconds: number;
  /** How often the queue looks for lost jobs and archives finished ones. */
  readonly jobMaintenanceSeconds: number;
  /** How often an idle worker looks for new jobs. */
  readonly jobPollSeconds: number;
  /**
   * FHIR servers de-identified copies may be written to, by name (DEID_TARGETS="research=https://...").
   * Only these are ever written to; credentials go in the URL's userinfo.
   */
  readonly deidTargets: Readonly<Record<string, string>>;
  /** Where model directories (each with a manifest.json) live. */
  readonly modelsDir: string;
  /** Token-classification models under modelsDir the text de-identifier runs beside its rules. */
  readonly deidNerModels: readonly string[];
  /**
   * De-identification key (HMAC secret) and its id; pseudonyms, replacement UIDs and date shifts
   * derive from it. Unset: operations that need pseudonyms answer that it is not configured.
   */
  readonly deidKey: { id: string; secret: string } | undefined;
  /**
   * API processes sharing the port (node:cluster); PostgreSQL only, since embedded PGlite belongs
   * to one process. More API nodes scale the same way on more machines: they keep no state.
   */
  readonly apiProcesses: number;
  /**
   * Idle keep-alive connections are closed after this; it must outlast the idle timeout of a
   * load balancer or client pool in front (often 60 s), or they reuse a socket being closed.
   */
  readonly keepAliveTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

function int(env: Env, key: string, dflt: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`Configuration ${key} must be a non-negative integer`);
  return n;
}

function bool(env: Env, key: string, dflt: boolean): boolean {
  const raw = env[key]?.toLowerCase();
  if (raw === undefined || raw === '') return dflt;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new Error(`Configuration ${key} must be a boolean`);
}

function peers(raw: string | undefined, variable: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of (raw ?? '').split(',').filter((e) => e.trim() !== '')) {
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq).trim();
    const url = entry
      .slice(eq + 1)
      .trim()
      .replace(/\/+$/, '');
    if (eq < 1 || !/^[A-Za-z0-9_-]+$/.test(name) || !/^https?:\/\//.test(url))
      throw new Error(`Configuration ${variable} must be name=http(s)://url pairs separated by commas`);
    out[name] = url;
  }
  return out;
}

/** The one config loader: typed defaults, overridden by environment variables. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const host = env.HOST ?? '127.0.0.1';
  const port = int(env, 'PORT', 8080);
  const config: Config = {
    host,
    port,
    baseUrl: (env.BASE_URL ?? `http://${host}:${port}`).replace(/\/+$/, ''),
    dataDir: path.resolve(env.DATA_DIR ?? './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    databaseSchema: env.DATABASE_SCHEMA || undefined,
    databasePoolMax: int(env, 'DATABASE_POOL_MAX', 10),
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 16 * 1024 * 1024),
    maxJsonDepth: int(env, 'MAX_JSON_DEPTH', 64),
    maxJsonArrayItems: int(env, 'MAX_JSON_ARRAY_ITEMS', 100_000),
    referentialIntegrity: bool(env, 'REFERENTIAL_INTEGRITY', true),
    defaultPageSize: int(env, 'DEFAULT_PAGE_SIZE', 20),
    maxPageSize: int(env, 'MAX_PAGE_SIZE', 1000),
    maxBundleEntries: int(env, 'MAX_BUNDLE_ENTRIES', 10_000),
    logLevel: env.LOG_LEVEL ?? 'info',
    dicomMaxInstanceBytes: int(env, 'DICOM_MAX_INSTANCE_BYTES', 2 * 1024 * 1024 * 1024),
    dicomParseInMemoryBytes: int(env, 'DICOM_PARSE_IN_MEMORY_BYTES', 64 * 1024 * 1024),
    dicomMaxFrames: int(env, 'DICOM_MAX_FRAMES', 20_000),
    dicomMaxFramePixels: int(env, 'DICOM_MAX_FRAME_PIXELS', 100_000_000),
    dicomInlineBinaryBytes: int(env, 'DICOM_INLINE_BINARY_BYTES', 1024),
    dicomCommitWaitMs: int(env, 'DICOM_COMMIT_WAIT_MS', 20),
    dicomPatientIdSystem: env.DICOM_PATIENT_ID_SYSTEM ?? 'urn:dicom:patient-id',
    dicomWebPeers: peers(env.DICOMWEB_PEERS, 'DICOMWEB_PEERS'),
    deidKey: env.DEID_KEY ? { id: env.DEID_KEY_ID ?? 'k1', secret: env.DEID_KEY } : undefined,
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 25_000),
    pipeline: bool(env, 'PIPELINE', true),
    workerConcurrency: int(env, 'WORKER_CONCURRENCY', 2),
    jobExpireSeconds: Math.max(1, int(env, 'JOB_EXPIRE_SECONDS', 900)),
    jobMaintenanceSeconds: Math.max(1, int(env, 'JOB_MAINTENANCE_SECONDS', 120)),
    jobPollSeconds: Math.max(0.5, Number(env.JOB_POLL_SECONDS ?? 1) || 1),
    deidTargets: peers(env.DEID_TARGETS, 'DEID_TARGETS'),
    modelsDir: path.resolve(env.MODELS_DIR ?? path.join(__dirname, '..', '..', 'models')),
    deidNerModels: (env.DEID_NER_MODELS ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== ''),
    keepAliveTimeoutMs: int(env, 'KEEP_ALIVE_TIMEOUT_MS', 65_000),
    apiProcesses: Math.max(1, int(env, 'API_PROCESSES', 1)),
    ...overrides,
  };
  return config;
}
