import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { authorize, loginTokens, startAuthServer } from '../helpers/auth';
import type { AuthTestServer } from '../helpers/auth';
import { createFhirUser } from './flows';

const alice = { username: 'alice', password: 'alice-password-1', fhirUser: 'Practitioner/alice' };
const bob = { username: 'bob', password: 'bob-password-1', fhirUser: 'Patient/bob' };

let server: AuthTestServer;
let adminToken: string;
let bobToken: string;
beforeAll(async () => {
  server = await startAuthServer({
    users: [alice, bob, { username: 'root2', password: 'root2-password', admin: true }],
  });
  await createFhirUser(server, alice.fhirUser);
  await createFhirUser(server, bob.fhirUser);
  adminToken = (
    await loginTokens(server, {
      clientId: 'test-app',
      username: 'admin',
      password: 'admin-password-for-tests',
      scope: 'openid fhirUser',
    })
  ).access_token;
  bobToken = (
    await loginTokens(server, { clientId: 'test-app', ...bob, scope: 'openid fhirUser patient/*.rs' })
  ).access_token;
}, 180_000);
afterAll(async () => {
  await server?.close();
});

const json = (r: Response): Promise<any> => r.json();

const send = (method: string, url: string, token?: string, body?: unknown) =>
  fetch(`${server.url}${url}`, {
    method,
    headers: { ...(token && { Authorization: `Bearer ${token}` }), 'Content-Type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });

test('/admin/users: an admin user creates (201) and updates (200) users; a non-admin gets 403, no token 401; errors are OperationOutcomes', async () => {
  const dave = { username: 'dave', password: 'dave-password', fhirUser: 'Practitioner/dave-not-yet' };
  expect((await send('POST', '/admin/users', undefined, dave)).status).toBe(401);
  const forbidden = await send('POST', '/admin/users', bobToken, dave);
  expect(forbidden.status).toBe(403);
  expect((await json(forbidden)).resourceType).toBe('OperationOutcome');
  // 21.3: the fhirUser need not exist yet.
  const created = await send('POST', '/admin/users', adminToken, dave);
  expect(created.status).toBe(201);
  expect(await json(created)).toEqual({
    username: 'dave',
    fhirUser: 'Practitioner/dave-not-yet',
    admin: false,
  });
  expect((await send('POST', '/admin/users', adminToken, dave)).status).toBe(200);
  const bad = await send('POST', '/admin/users', adminToken, {
    username: 'eve',
    password: 'short',
    fhirUser: 'Practitioner/eve',
  });
  expect(bad.status).toBe(400);
  expect((await json(bad)).issue[0]).toMatchObject({ code: 'invalid', expression: ['password'] });
  expect((await send('DELETE', '/admin/users/nobody', adminToken)).status).toBe(404);
  expect((await send('DELETE', '/admin/users/dave', bobToken)).status).toBe(403);
  // Admin power comes from the user (USERS_FILE "admin": true), not from a scope.
  const root2 = await loginTokens(server, {
    clientId: 'test-app',
    username: 'root2',
    password: 'root2-password',
    scope: 'openid',
  });
  expect((await send('DELETE', '/admin/users/dave', root2.access_token)).status).toBe(204);
  // Stored hashes are scrypt with their parameters, never the password.
  const rows = await server.db('auth_user').select('username', 'password_hash');
  for (const row of rows) {
    expect(row.password_hash).toMatch(/^\$scrypt\$ln=\d+,r=8,p=1\$[\w-]+\$[\w-]+$/);
    expect(row.password_hash).not.toContain('password');
  }
  expect(server.logs()).not.toMatch(/alice-password|dave-password|admin-password-for-tests/);
});

test('RFC 7591 registration needs an admin user token: admin 201, non-admin 403, none 401; jwks_uri must be allow-listed', async () => {
  const metadata = {
    client_name: 'Registered app',
    redirect_uris: ['https://registered.example.org/cb'],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    scope: 'openid fhirUser launch/patient patient/*.rs offline_access',
  };
  const none = await send('POST', '/oauth2/register', undefined, metadata);
  expect([none.status, none.headers.get('www-authenticate')]).toEqual([
    401,
    `Bearer realm="${server.fhirBase}"`,
  ]);
  const notAdmin = await send('POST', '/oauth2/register', bobToken, metadata);
  expect([notAdmin.status, (await json(notAdmin)).error]).toEqual([403, 'insufficient_scope']);
  const ok = await send('POST', '/oauth2/register', adminToken, metadata);
  expect(ok.status).toBe(201);
  const registered = await json(ok);
  expect(registered.scope).toBe(metadata.scope);
  expect(registered.client_id).toBeTruthy();
  // The new client works at once, with the SMART scopes it registered.
  const l = await authorize(server, {
    clientId: registered.client_id,
    ...alice,
    scope: 'openid patient/*.rs user/*.rs',
    redirectUri: 'https://registered.example.org/cb',
  });
  expect(l.browser.pages.at(-1)?.html).toMatch(
    /<code>patient\/\*\.rs<\/code>[\s\S]*not granted[\s\S]*<code>user\/\*\.rs<\/code>/,
  );
  const ssrf = await send('POST', '/oauth2/register', adminToken, {
    ...metadata,
    token_endpoint_auth_method: 'private_key_jwt',
    jwks_uri: 'https://169.254.169.254/keys',
  });
  expect([ssrf.status, (await json(ssrf)).error]).toEqual([400, 'invalid_client_metadata']);
});

test('login throttling: after 5 failures even the right password fails for a while', async () => {
  const mallory = { username: 'mallory', password: 'mallory-password', fhirUser: 'Practitioner/alice' };
  expect((await send('POST', '/admin/users', adminToken, mallory)).status).toBe(201);
  const attempt = (password: string) =>
    authorize(server, { clientId: 'test-app', username: 'mallory', password, scope: 'openid' }).then(
      () => 'signed in',
      () => 'refused',
    );
  // authorize() re-posts a refused form until it gives up: one call is many failures.
  expect(await attempt('wrong-password')).toBe('refused');
  expect(await attempt(mallory.password)).toBe('refused');
  await server.db('auth_user').where({ username: 'mallory' }).update({ locked_until: null });
  expect(await attempt(mallory.password)).toBe('signed in');
});

test('USERS_FILE seeding is idempotent; bad entries stop the start naming the entry and field; the generated admin password is in a 0600 file', async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fhir-users-'));
  const database = process.env.TEST_DATABASE_URL
    ? { databaseSchema: `t_users_${Math.random().toString(36).slice(2, 8)}` }
    : { databaseUrl: undefined };
  try {
    const first = await startAuthServer({
      users: [alice],
      overrides: { dataDir, adminPassword: undefined, ...database },
    });
    const file = path.join(dataDir, 'initial-admin-password');
    const generated = (await fs.readFile(file, 'utf8')).trim();
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(first.logs()).toContain(file);
    expect(first.logs()).not.toContain(generated);
    const hash = (await first.db('auth_user').where({ username: 'alice' }).first()).password_hash;
    await first.close();

    const second = await startAuthServer({
      users: [alice],
      overrides: { dataDir, adminPassword: 'ignored-now', ...database },
    });
    try {
      const rows = await second.db('auth_user').orderBy('username').select('username', 'password_hash');
      expect(rows.map((r: { username: string }) => r.username)).toEqual(['admin', 'alice']);
      expect(rows[1].password_hash).toBe(hash);
      // The generated password signs in (ADMIN_PASSWORD only seeds an empty database).
      const admin = await authorize(second, {
        clientId: 'test-app',
        username: 'admin',
        password: generated,
        scope: 'openid',
      });
      expect(admin.callback.searchParams.get('code')).toBeTruthy();
    } finally {
      await second.close();
    }

    await expect(
      startAuthServer({
        users: [alice, { username: 'x', password: 'long-enough', fhirUser: 'Observation/1' }],
        overrides: { dataDir, ...database },
      }),
    ).rejects.toThrow('USERS_FILE entry 1 (x): fhirUser must be Practitioner/{id} or Patient/{id}');
    await expect(
      startAuthServer({
        clients: [
          {
            client_id: 'bad',
            token_endpoint_auth_method: 'private_key_jwt',
            scope: 'system/*.rs',
            grant_types: ['client_credentials'],
          },
        ],
        overrides: { dataDir, ...database },
      }),
    ).rejects.toThrow('SMART_CLIENTS_FILE entry 2 (bad): jwks or jwks_uri is required with private_key_jwt');
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}, 300_000);
