import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** A private signing key as a JWK, with the `kid`, `alg` and `use` a JWKS publishes. */
export interface PrivateJwk extends JsonWebKey {
  kid: string;
  alg: string;
  use: 'sig';
}

/**
 * Where the server's secrets come from: configuration when set, otherwise generated once into
 * DATA_DIR/keys (directory 0700, files 0600) and reused after a restart, so a fresh
 * `npm start` needs nothing configured and nothing is ever derived from a constant in code.
 * Several API processes sharing DATA_DIR start together safely: a key file is created
 * exclusively, and the loser of that race reads the winner's file. Machines that do not share
 * DATA_DIR must be given the same keys through the environment.
 */
export interface KeyStore {
  /**
   * A named random secret (base64url): the configured value when there is one, otherwise the
   * one generated for this name on first use. Values are never logged.
   */
  secret(name: SecretName): Promise<string>;
  /** The private signing keys for tokens (one RSA and one EC key), newest first. */
  signingKeys(): Promise<PrivateJwk[]>;
}

export type SecretName = 'cookie' | 'deid' | 'master';

/** Configured values that take precedence over generated ones. */
export interface ConfiguredKeys {
  readonly secrets?: Partial<Record<SecretName, string>>;
  /** A JWKS of private keys (JSON) for signing tokens. */
  readonly signingJwks?: string;
}

/** Bytes of randomness per generated secret: 256 bits. */
const SECRET_BYTES = 32;

export class FileKeyStore implements KeyStore {
  private readonly cache = new Map<string, Promise<unknown>>();

  constructor(
    private readonly dir: string,
    private readonly configured: ConfiguredKeys = {},
  ) {}

  secret(name: SecretName): Promise<string> {
    const value = this.configured.secrets?.[name];
    if (value !== undefined) return Promise.resolve(value);
    return this.once(`secret-${name}`, () => ({
      value: randomBytes(SECRET_BYTES).toString('base64url'),
    })).then((s) => (s as { value: string }).value);
  }

  async signingKeys(): Promise<PrivateJwk[]> {
    if (this.configured.signingJwks !== undefined) return parseJwks(this.configured.signingJwks);
    const stored = (await this.once('signing-keys', () => ({ keys: generateSigningKeys() }))) as {
      keys: PrivateJwk[];
    };
    return stored.keys;
  }

  /** Reads `name`.json, creating it exclusively with `create()` when it does not exist yet. */
  private once(name: string, create: () => object): Promise<unknown> {
    let pending = this.cache.get(name);
    if (!pending) {
      pending = this.readOrCreate(name, create);
      // A failed attempt (a full disk) is not remembered: the next call tries again.
      pending.catch(() => this.cache.delete(name));
      this.cache.set(name, pending);
    }
    return pending;
  }

  private async readOrCreate(name: string, create: () => object): Promise<unknown> {
    const file = path.join(this.dir, `${name}.json`);
    const existing = await readJson(file);
    if (existing !== undefined) return existing;
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(this.dir, `.${name}.${randomUUID()}.tmp`);
    await fs.writeFile(tmp, JSON.stringify(create()), { mode: 0o600, flag: 'wx' });
    try {
      // link() fails when the file exists: of processes creating it at once, one wins.
      await fs.link(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
    const stored = await readJson(file);
    if (stored === undefined) throw new Error(`Key file ${name}.json could not be read back`);
    return stored;
  }
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The message must not quote the file: it holds secrets.
    throw new Error(`Key file ${path.basename(file)} is not valid JSON`);
  }
}

function generateSigningKeys(): PrivateJwk[] {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [
    { ...rsa, kid: randomUUID(), alg: 'RS256', use: 'sig' },
    { ...ec, kid: randomUUID(), alg: 'ES256', use: 'sig' },
  ];
}

function parseJwks(text: string): PrivateJwk[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('Configuration OAUTH_SIGNING_JWKS must be a JSON Web Key Set');
  }
  const keys = (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new Error('Configuration OAUTH_SIGNING_JWKS must be a JSON Web Key Set with at least one key');
  return keys.map((k, i) => {
    const key = k as Partial<PrivateJwk>;
    if (typeof key.d !== 'string' || typeof key.kty !== 'string')
      throw new Error(`OAUTH_SIGNING_JWKS key ${i} must be a private key`);
    const alg = key.alg ?? (key.kty === 'RSA' ? 'RS256' : 'ES256');
    return { ...key, kid: key.kid ?? `key-${i}`, alg, use: 'sig' };
  });
}
