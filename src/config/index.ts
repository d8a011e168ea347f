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
   * derive from it. Unset: a key generated once into DATA_DIR/keys, under the id `deidKeyId`.
   */
  readonly deidKey: { id: string; secret: string } | undefined;
  readonly deidKeyId: string;
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
  /**
   * Whether every FHIR and DICOMweb request needs a bearer token. False makes every request act
   * as the development system user; refused at start unless HOST is a loopback address.
   */
  readonly authRequired: boolean;
  /**
   * The public base URL (PUBLIC_URL, formerly BASE_URL). Unset: each request's own scheme, host
   * and port, so a server on 127.0.0.1:PORT is reachable (and accepts `aud`) at that address.
   */
  readonly publicUrl: string | undefined;
  /** Trust X-Forwarded-Proto/Host from a reverse proxy in front (only behind one). */
  readonly trustProxy: boolean;
  /** JSON array of SMART client registrations (RFC 7591 metadata) loaded at start. */
  readonly smartClientsFile: string | undefined;
  /** JSON array of local users seeded at start. */
  readonly usersFile: string | undefined;
  /** Password of the local `admin` user seeded on an empty database; otherwise one is generated. */
  readonly adminPassword: string | undefined;
  /** A hospital's OpenID Connect provider offered as an alternative login. */
  readonly oidc:
    | {
        readonly issuer: string;
        readonly clientId: string;
        readonly clientSecret: string | undefined;
        /** ID token claim holding the user's FHIR reference (Practitioner/… or Patient/…). */
        readonly fhirUserClaim: string;
        /** ID token claim matched against local usernames when the fhirUser claim is absent. */
        readonly usernameClaim: string;
      }
    | undefined;
  /** Role policy (JSON) replacing the shipped profiles/access/policy.json. */
  readonly accessPolicyFile: string | undefined;
  /**
   * Origins (scheme://host[:port]) from which client `jwks_uri` documents may be fetched;
   * nothing else is fetched, and private addresses never.
   */
  readonly jwksUriAllowlist: readonly string[];
  /** Lifetime of user access tokens; backend-services tokens live at most 300 s. */
  readonly accessTokenTtlSeconds: number;
  /** Lifetime of offline_access refresh tokens. */
  readonly refreshTokenTtlSeconds: number;
  /**
   * scrypt cost of new password hashes as log2 N (r=8, p=1): 17 is OWASP's recommendation
   * (128 MiB, about half a second). Each hash stores its own parameters, so raising it later only
   * affects passwords set afterwards.
   */
  readonly passwordScryptCost: number;
  /** Secrets given by the operator; those unset are generated once into DATA_DIR/keys. */
  readonly keys: {
    readonly cookie: string | undefined;
    readonly master: string | undefined;
    /** JSON Web Key Set of private keys signing tokens. */
    readonly signingJwks: string | undefined;
  };
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

function list(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
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

function required(env: Env, key: string, because: string): string {
  const v = env[key];
  if (!v) throw new Error(`Configuration ${key} is required with ${because}`);
  return v;
}

/** The one config loader: typed defaults, overridden by environment variables. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const host = env.HOST ?? '127.0.0.1';
  const port = int(env, 'PORT', 8080);
  const publicUrl = (env.PUBLIC_URL || env.BASE_URL || undefined)?.replace(/\/+$/, '');
  if (publicUrl !== undefined && !/^https?:\/\/[^/]+(\/.*)?$/.test(publicUrl))
    throw new Error('Configuration PUBLIC_URL must be an http(s) URL');
  const config: Config = {
    host,
    port,
    baseUrl: publicUrl ?? `http://${host}:${port}`,
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
    deidKeyId: env.DEID_KEY_ID ?? 'k1',
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 25_000),
    pipeline: bool(env, 'PIPELINE', true),
    workerConcurrency: int(env, 'WORKER_CONCURRENCY', 2),
    jobExpireSeconds: Math.max(1, int(env, 'JOB_EXPIRE_SECONDS', 900)),
    jobMaintenanceSeconds: Math.max(1, int(env, 'JOB_MAINTENANCE_SECONDS', 120)),
    jobPollSeconds: Math.max(0.5, Number(env.JOB_POLL_SECONDS ?? 1) || 1),
    deidTargets: peers(env.DEID_TARGETS, 'DEID_TARGETS'),
    modelsDir: path.resolve(env.MODELS_DIR ?? path.join(__dirname, '..', '..', 'models')),
    deidNerModels: list(env.DEID_NER_MODELS),
    keepAliveTimeoutMs: int(env, 'KEEP_ALIVE_TIMEOUT_MS', 65_000),
    apiProcesses: Math.max(1, int(env, 'API_PROCESSES', 1)),
    authRequired: bool(env, 'AUTH_REQUIRED', true),
    publicUrl,
    trustProxy: bool(env, 'TRUST_PROXY', false),
    smartClientsFile: env.SMART_CLIENTS_FILE || undefined,
    usersFile: env.USERS_FILE || undefined,
    adminPassword: env.ADMIN_PASSWORD || undefined,
    oidc: env.OIDC_ISSUER
      ? {
          issuer: env.OIDC_ISSUER.replace(/\/+$/, ''),
          clientId: required(env, 'OIDC_CLIENT_ID', 'OIDC_ISSUER'),
          clientSecret: env.OIDC_CLIENT_SECRET || undefined,
          fhirUserClaim: env.OIDC_FHIR_USER_CLAIM || 'fhirUser',
          usernameClaim: env.OIDC_USERNAME_CLAIM || 'preferred_username',
        }
      : undefined,
    accessPolicyFile: env.ACCESS_POLICY_FILE || undefined,
    jwksUriAllowlist: list(env.JWKS_URI_ALLOWLIST).map((o) => o.replace(/\/+$/, '')),
    accessTokenTtlSeconds: Math.max(60, int(env, 'ACCESS_TOKEN_TTL', 3600)),
    refreshTokenTtlSeconds: Math.max(60, int(env, 'REFRESH_TOKEN_TTL', 30 * 24 * 3600)),
    passwordScryptCost: Math.min(20, Math.max(14, int(env, 'PASSWORD_SCRYPT_COST', 17))),
    keys: {
      cookie: env.COOKIE_SECRET || undefined,
      master: env.MASTER_KEY || undefined,
      signingJwks: env.OAUTH_SIGNING_JWKS || undefined,
    },
    ...overrides,
  };
  return config;
}
