import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as jose from 'jose';
import type { BackendClient } from '../helpers/auth';
import { backendClient, clientCredentials, startAuthServer, SYSTEM_SCOPES } from '../helpers/auth';
import type { AuthTestServer } from '../helpers/auth';
import { freePort } from '../helpers/ports';
import { fhirStatus, formPost } from './flows';

let server: AuthTestServer;
let rs: BackendClient;
let mixed: BackendClient;

beforeAll(async () => {
  rs = await backendClient('test-rs384', 'RS384');
  mixed = await backendClient('test-mixed');
  mixed.metadata.scope = 'system/*.rs patient/*.rs';
  server = await startAuthServer({ clients: [rs.metadata, mixed.metadata] });
}, 180_000);
afterAll(async () => {
  await server?.close();
});

const tokenUrl = (): string => `${server.url}/oauth2/token`;

/** A client assertion built by hand, to vary each claim. */
async function assertion(
  client: BackendClient,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return new jose.SignJWT({
    iss: client.clientId,
    sub: client.clientId,
    aud: tokenUrl(),
    jti: randomUUID(),
    exp: now + 240,
    iat: now,
    ...claims,
  })
    .setProtectedHeader({ alg: client.alg, kid: client.kid, typ: 'JWT', ...header })
    .sign(client.privateKey);
}

const request = (jwt: string, scope = SYSTEM_SCOPES, url = tokenUrl()) =>
  formPost(url, {
    grant_type: 'client_credentials',
    scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: jwt,
  });

test.each(['ES384', 'RS384'])(
  'client_credentials with private_key_jwt (%s): a Bearer token of at most 300 s, no refresh token',
  async (alg) => {
    const client = alg === 'ES384' ? server.backend : rs;
    const tokens = await clientCredentials(server, client, 'system/*.rs');
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.expires_in).toBeGreaterThan(0);
    expect(tokens.expires_in).toBeLessThanOrEqual(300);
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.scope).toBe('system/*.rs');
    expect(await fhirStatus(server, tokens.access_token)).not.toBe(401);
    // The raw answer too: no-store, no-cache.
    const raw = await request(await assertion(client));
    expect(raw.status).toBe(200);
    expect(raw.headers.get('pragma')).toBe('no-cache');
    expect(raw.body).toMatchObject({ token_type: 'Bearer', scope: SYSTEM_SCOPES });
  },
);

test('only system/ scopes are granted to a backend client', async () => {
  const tokens = await clientCredentials(server, mixed, 'patient/*.rs system/*.rs');
  expect(tokens.scope).toBe('system/*.rs');
  const none = await request(await assertion(mixed), 'patient/*.rs');
  expect([none.status, none.body.error]).toEqual([400, 'invalid_scope']);
});

test('assertions are refused: unknown kid, wrong iss, sub or aud, no kid, exp more than 5 minutes ahead, wrong signature', async () => {
  const now = Math.floor(Date.now() / 1000);
  const other = await backendClient('test-backend');
  const cases: [string, Promise<string>][] = [
    ['unknown kid', assertion(server.backend, {}, { kid: 'not-registered' })],
    ['no kid', assertion(server.backend, {}, { kid: undefined })],
    ['wrong iss', assertion(server.backend, { iss: 'test-rs384' })],
    ['wrong sub', assertion(server.backend, { sub: 'test-rs384' })],
    ['wrong aud', assertion(server.backend, { aud: server.fhirBase })],
    ['issuer as aud', assertion(server.backend, { aud: `${server.url}/oauth2` })],
    ['exp 6 minutes ahead', assertion(server.backend, { exp: now + 360 })],
    ['expired', assertion(server.backend, { exp: now - 60, iat: now - 120 })],
    ['another key with the registered kid', assertion({ ...other, kid: server.backend.kid })],
  ];
  for (const [name, jwt] of cases) {
    const res = await request(await jwt);
    expect([name, res.status, res.body.error]).toEqual([name, 401, 'invalid_client']);
  }
});

test('a jti is accepted once, also after a restart on the same database', async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'fhir-jti-'));
  const pg = process.env.TEST_DATABASE_URL;
  const database = pg
    ? { databaseSchema: `t_jti_${Math.random().toString(36).slice(2, 8)}` }
    : { databaseUrl: undefined };
  // Same port both times: the assertion's aud is the token URL.
  const port = await freePort();
  let s = await startAuthServer({
    overrides: { dataDir, port, baseUrl: `http://127.0.0.1:${port}`, ...database },
  });
  try {
    const client = s.backend;
    const jwt = await assertionFor(s, client);
    expect((await request(jwt, SYSTEM_SCOPES, `${s.url}/oauth2/token`)).status).toBe(200);
    const again = await request(jwt, SYSTEM_SCOPES, `${s.url}/oauth2/token`);
    expect([again.status, again.body.error]).toEqual([401, 'invalid_client']);
    // A restart on the same database: the jti is still spent.
    await s.close();
    s = await startAuthServer({
      overrides: { dataDir, port, baseUrl: `http://127.0.0.1:${port}`, ...database },
      backend: client,
    });
    const replay = await request(jwt, SYSTEM_SCOPES, `${s.url}/oauth2/token`);
    expect([replay.status, replay.body.error]).toEqual([401, 'invalid_client']);
  } finally {
    await s.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}, 240_000);

async function assertionFor(s: AuthTestServer, client: BackendClient): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new jose.SignJWT({
    iss: client.clientId,
    sub: client.clientId,
    aud: `${s.url}/oauth2/token`,
    jti: randomUUID(),
    exp: now + 280,
    iat: now,
  })
    .setProtectedHeader({ alg: client.alg, kid: client.kid })
    .sign(client.privateKey);
}
