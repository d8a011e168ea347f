import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Clock, Logger } from '../shared';
import { badRequest } from '../shared';
import type { Database } from '../storage';
import { decoyHash, hashPassword, verifyPassword } from './passwords';

const TABLE = 'auth_user';
/** ASVS: consecutive failures before the login is paused, and for how long. */
export const MAX_FAILED_LOGINS = 5;
export const LOCK_SECONDS = 15 * 60;

export interface LocalUser {
  readonly username: string;
  /** `Practitioner/{id}` or `Patient/{id}`; absent for a pure administrator such as the seeded `admin`. */
  readonly fhirUser?: string;
  readonly admin: boolean;
  readonly disabled: boolean;
}

/** A USERS_FILE entry, also the body of `POST /admin/users`. */
export interface UserEntry {
  username: string;
  password: string;
  fhirUser?: string;
  admin?: boolean;
}

export type LoginResult = { ok: true; user: LocalUser } | { ok: false; reason: 'invalid' | 'locked' };

interface UserRow {
  username: string;
  password_hash: string;
  fhir_user: string | null;
  admin: boolean;
  disabled: boolean;
  failed_logins: number;
  locked_until: Date | string | null;
}

const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;
const FHIR_USER = /^(Practitioner|Patient)\/[A-Za-z0-9.-]{1,64}$/;

/** Checks an entry's shape; `where` names it in the message (a file entry, or the request body). */
export function validateUserEntry(value: unknown, where: string): UserEntry {
  const e = value as Partial<Record<keyof UserEntry, unknown>> | null;
  const fail = (field: string, why: string): never => {
    throw badRequest(`${where}: ${field} ${why}`, field);
  };
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return fail('entry', 'must be an object');
  if (typeof e.username !== 'string' || !USERNAME.test(e.username))
    fail('username', 'must be 1-64 letters, digits or . _ @ -');
  if (typeof e.password !== 'string' || Array.from(e.password).length < 8 || e.password.length > 1024)
    fail('password', 'must be a string of 8 to 1024 characters');
  if (e.admin !== undefined && typeof e.admin !== 'boolean') fail('admin', 'must be true or false');
  if (e.fhirUser === undefined) {
    if (e.admin !== true) fail('fhirUser', 'is required (Practitioner/{id} or Patient/{id})');
  } else if (typeof e.fhirUser !== 'string' || !FHIR_USER.test(e.fhirUser))
    fail('fhirUser', 'must be Practitioner/{id} or Patient/{id}');
  return {
    username: e.username as string,
    password: e.password as string,
    ...(e.fhirUser !== undefined && { fhirUser: e.fhirUser as string }),
    ...(e.admin !== undefined && { admin: e.admin as boolean }),
  };
}

function toUser(row: UserRow): LocalUser {
  return {
    username: row.username,
    ...(row.fhir_user && { fhirUser: row.fhir_user }),
    admin: row.admin,
    disabled: row.disabled,
  };
}

/** Local users: scrypt hashes only, login throttling, seeding. Passwords are never stored or logged. */
export class UserStore {
  private decoy: Promise<string> | undefined;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly scryptCost: number,
  ) {}

  async find(username: string): Promise<LocalUser | undefined> {
    const row = (await this.db(TABLE).where({ username }).first()) as UserRow | undefined;
    return row && toUser(row);
  }

  /**
   * Creates the user, or updates an existing one (fhirUser, admin; the password is hashed anew
   * only when it changed). `enable` re-enables a disabled login (an admin's explicit request);
   * seeding from USERS_FILE leaves a disabled login disabled.
   */
  async upsert(entry: UserEntry, { enable }: { enable: boolean }): Promise<'created' | 'updated'> {
    const now = this.clock.now();
    const existing = (await this.db(TABLE).where({ username: entry.username }).first()) as
      UserRow | undefined;
    const fields = { fhir_user: entry.fhirUser ?? null, admin: entry.admin === true, updated_at: now };
    if (existing) {
      const same = await verifyPassword(entry.password, existing.password_hash);
      await this.db(TABLE)
        .where({ username: entry.username })
        .update({
          ...fields,
          ...(!same && { password_hash: await hashPassword(entry.password, this.scryptCost) }),
          ...(enable && { disabled: false, failed_logins: 0, locked_until: null }),
        });
      return 'updated';
    }
    const inserted = await this.db(TABLE)
      .insert({
        username: entry.username,
        password_hash: await hashPassword(entry.password, this.scryptCost),
        ...fields,
        created_at: now,
      })
      .onConflict('username')
      .ignore()
      .returning('username');
    // Another process created it in between: apply this entry as an update.
    return inserted.length > 0 ? 'created' : this.upsert(entry, { enable });
  }

  /** Disables the login; false when there is no such user. */
  async disable(username: string): Promise<boolean> {
    const n = await this.db(TABLE)
      .where({ username })
      .update({ disabled: true, updated_at: this.clock.now() });
    return n > 0;
  }

  /**
   * Checks a password. After MAX_FAILED_LOGINS consecutive failures the login is paused for
   * LOCK_SECONDS (even the right password fails then). Unknown users cost a hash too, so timing
   * does not tell which usernames exist.
   */
  async authenticate(username: string, password: string): Promise<LoginResult> {
    const row = (await this.db(TABLE).where({ username }).first()) as UserRow | undefined;
    if (!row || row.disabled) {
      this.decoy ??= decoyHash(this.scryptCost);
      await verifyPassword(password, await this.decoy);
      return { ok: false, reason: 'invalid' };
    }
    const now = this.clock.now();
    if (row.locked_until && new Date(row.locked_until) > now) return { ok: false, reason: 'locked' };
    if (await verifyPassword(password, row.password_hash)) {
      if (row.failed_logins > 0 || row.locked_until)
        await this.db(TABLE).where({ username }).update({ failed_logins: 0, locked_until: null });
      return { ok: true, user: toUser(row) };
    }
    // Counted in SQL, so concurrent failures are all counted.
    const failures: { failed_logins: number }[] = await this.db(TABLE)
      .where({ username })
      .increment('failed_logins', 1)
      .returning('failed_logins');
    if ((failures[0]?.failed_logins ?? 0) >= MAX_FAILED_LOGINS)
      await this.db(TABLE)
        .where({ username })
        .update({ failed_logins: 0, locked_until: new Date(now.getTime() + LOCK_SECONDS * 1000) });
    return { ok: false, reason: 'invalid' };
  }

  /**
   * On an empty user table, the local `admin`: with ADMIN_PASSWORD, or a random password written to
   * DATA_DIR/initial-admin-password (0600), of which only the path is logged. Of processes starting
   * together, the one whose insert wins writes the file.
   */
  async seedInitialAdmin(adminPassword: string | undefined, dataDir: string, logger: Logger): Promise<void> {
    if (await this.db(TABLE).first('username')) return;
    const password = adminPassword ?? randomBytes(18).toString('base64url');
    const now = this.clock.now();
    const hash = await hashPassword(password, this.scryptCost);
    const inserted = await this.db(TABLE)
      .insert({ username: 'admin', password_hash: hash, admin: true, created_at: now, updated_at: now })
      .onConflict('username')
      .ignore()
      .returning('username');
    if (inserted.length === 0) return;
    if (adminPassword !== undefined) {
      logger.info('local user admin created with ADMIN_PASSWORD');
      return;
    }
    const file = path.join(dataDir, 'initial-admin-password');
    await fs.mkdir(dataDir, { recursive: true });
    await fs.rm(file, { force: true });
    await fs.writeFile(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
    logger.warn(
      { file },
      'local user admin created; its generated password is in this file (read it, then delete it)',
    );
  }

  /** Seeds USERS_FILE (idempotent): every entry is checked before any is written. */
  async seedFromFile(file: string): Promise<number> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (err) {
      throw new Error(`USERS_FILE ${file} could not be read as JSON: ${(err as Error).name}`);
    }
    if (!Array.isArray(parsed)) throw new Error(`USERS_FILE ${file} must be a JSON array of users`);
    const entries = parsed.map((value: unknown, i) => {
      const name = (value as { username?: unknown } | null)?.username;
      try {
        return validateUserEntry(
          value,
          `USERS_FILE entry ${i}${typeof name === 'string' ? ` (${name})` : ''}`,
        );
      } catch (err) {
        throw new Error((err as Error).message);
      }
    });
    for (const entry of entries) await this.upsert(entry, { enable: false });
    return entries.length;
  }
}
