import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { ScryptOptions } from 'node:crypto';

const KEY_BYTES = 32;
const SALT_BYTES = 16;

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_BYTES, options, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

function options(logN: number, r: number, p: number): ScryptOptions {
  // Node refuses more than 32 MiB by default; scrypt needs 128 * N * r bytes.
  return { N: 2 ** logN, r, p, maxmem: 256 * 2 ** logN * r + 1024 * 1024 };
}

/**
 * A scrypt hash in PHC string form, `$scrypt$ln=17,r=8,p=1$<salt>$<hash>` (base64url): the
 * per-user random salt and the parameters live with the hash, so they can change over time.
 */
export async function hashPassword(password: string, logN: number): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, options(logN, 8, 1));
  return `$scrypt$ln=${logN},r=8,p=1$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

const PHC = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([\w-]+)\$([\w-]+)$/;

/** Whether password matches the stored hash (constant-time comparison; false for a malformed hash). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = PHC.exec(stored);
  if (!m) return false;
  const [, ln, r, p, salt, hash] = m;
  const expected = Buffer.from(hash ?? '', 'base64url');
  const key = await derive(
    password,
    Buffer.from(salt ?? '', 'base64url'),
    options(+(ln ?? 0), +(r ?? 0), +(p ?? 0)),
  );
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash of a random password: verifying against it costs what a real check costs. */
export function decoyHash(logN: number): Promise<string> {
  return hashPassword(randomBytes(16).toString('base64url'), logN);
}
