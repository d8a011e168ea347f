import * as jose from 'jose';
import * as oidc from 'openid-client';
import {
  appClient,
  authorize,
  exchange,
  loginTokens,
  oidcConfig,
  REDIRECT_URI,
  startAuthServer,
} from '../helpers/auth';
import type { AuthTestServer } from '../helpers/auth';
import { basic, createFhirUser, fhirStatus, formPost } from './flows';

const conf = appClient('test-conf', true);
let server: AuthTestServer;
let tokenUrl: string;

const alice = { username: 'alice', password: 'alice-password', fhirUser: 'Practitioner/alice' };
const bob = { username: 'bob', password: 'bob-password', fhirUser: 'Patient/bob' };
const ghost = { username: 'ghost', password: 'ghost-password', fhirUser: 'Practitioner/not-there-yet' };

beforeAll(async () => {
  server = await startAuthServer({ clients: [conf.metadata], users: [alice, bob, ghost] });
  await createFhirUser(server, alice.fhirUser);
  await createFhirUser(server, bob.fhirUser);
  tokenUrl = `${server.url}/oauth2/token`;
}, 180_000);
afterAll(async () => {
  await server?.close();
});

const login = (
  user: { username: string; password: string },
  scope: string,
  params?: Record<string, string>,
) =>
  authorize(server, {
    clientId: 'test-app',
    username: user.username,
    password: user.password,
    scope,
    ...(params && { params }),
  });

/** Redeems a login's code by hand (public client), to see the raw answer. */
const redeem = (code: string, verifier: string | undefined, extra: Record<string, string> = {}) =>
  formPost(tokenUrl, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    client_id: 'test-app',
    ...(verifier !== undefined && { code_verifier: verifier }),
    ...extra,
  });

test('authorization code + PKCE: the token response has Bearer, expires_in, the granted scope, no-store and no-cache; state is echoed', async () => {
  // 21.1: the server runs on 127.0.0.1:PORT and the aud sent is http://127.0.0.1:PORT/fhir.
  expect(server.fhirBase).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/fhir$/);
  const l = await login(alice, 'openid fhirUser user/*.rs');
  expect(l.callback.searchParams.get('state')).toBe(l.state);
  const res = await redeem(l.callback.searchParams.get('code')!, l.verifier);
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toContain('no-store');
  expect(res.headers.get('pragma')).toBe('no-cache');
  expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'openid fhirUser user/*.rs' });
  expect(res.body.expires_in).toBeGreaterThan(0);
  expect(res.body.refresh_token).toBeUndefined();
  expect(await fhirStatus(server, res.body.access_token)).not.toBe(401);

  // The id_token carries fhirUser and verifies against jwks_uri.
  const discovery = (await (await fetch(`${server.fhirBase}/.well-known/smart-configuration`)).json()) as {
    jwks_uri: string;
    issuer: string;
  };
  const { payload } = await jose.jwtVerify(
    res.body.id_token,
    jose.createRemoteJWKSet(new URL(discovery.jwks_uri)),
    {
      issuer: discovery.issuer,
      audience: 'test-app',
    },
  );
  expect(payload).toMatchObject({ sub: 'alice', fhirUser: `${server.fhirBase}/Practitioner/alice` });
});

test('PKCE is required: a missing, blank or wrong verifier is invalid_grant; plain or no challenge is refused at the authorization request', async () => {
  for (const verifier of [undefined, '', 'x'.repeat(43)]) {
    const l = await login(alice, 'openid');
    const res = await redeem(l.callback.searchParams.get('code')!, verifier);
    expect(res.status).toBe(400);
    // RFC 7636 §4.6: invalid_grant; a blank verifier is malformed, which oidc-provider calls invalid_request.
    expect(['invalid_grant', 'invalid_request']).toContain(res.body.error);
  }
  const plain = await login(alice, 'openid', { code_challenge_method: 'plain' });
  expect(plain.callback.searchParams.get('error')).toBe('invalid_request');
  const config = await oidcConfig(server, 'test-app');
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    aud: server.fhirBase,
    state: 's',
  });
  const res = await fetch(url, { redirect: 'manual' });
  const to = new URL(res.headers.get('location')!);
  expect([to.origin + to.pathname, to.searchParams.get('error'), to.searchParams.get('state')]).toEqual([
    REDIRECT_URI,
    'invalid_request',
    's',
  ]);
  expect(to.searchParams.get('error_description')).toMatch(/PKCE/);
});

test('aud must be the FHIR base: a wrong or missing aud gets an error at the redirect URI and no code', async () => {
  for (const aud of ['https://other.example.org/fhir', undefined]) {
    const l = await login(alice, 'openid', aud === undefined ? { aud: '' } : { aud });
    expect(l.callback.searchParams.get('code')).toBeNull();
    expect(l.callback.searchParams.get('error')).toBe('invalid_request');
    expect(l.callback.searchParams.get('error_description')).toContain(server.fhirBase);
  }
});

test('redirect URIs match exactly, and a code is single-use (its second use is invalid_grant)', async () => {
  const config = await oidcConfig(server, 'test-app');
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: `${REDIRECT_URI}/other`,
    scope: 'openid',
    aud: server.fhirBase,
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(400);
  expect(res.headers.get('location')).toBeNull();
  expect(await res.text()).toContain('redirect_uri');

  const l = await login(alice, 'openid');
  const code = l.callback.searchParams.get('code')!;
  expect((await redeem(code, l.verifier, { redirect_uri: `${REDIRECT_URI}/other` })).body.error).toBe(
    'invalid_grant',
  );
  const l2 = await login(alice, 'openid');
  const code2 = l2.callback.searchParams.get('code')!;
  expect((await redeem(code2, l2.verifier)).status).toBe(200);
  expect((await redeem(code2, l2.verifier)).body.error).toBe('invalid_grant');
});

test('the consent page shows what will be granted and what will not; denying sends access_denied', async () => {
  const l = await login(alice, 'openid user/*.rs system/*.rs');
  const consent = l.browser.pages.find((p) => p.html.includes('Allow access?'))!;
  expect(consent.html).toContain('<code>user/*.rs</code>');
  expect(consent.html).toMatch(/not granted[\s\S]*<code>system\/\*\.rs<\/code>/);
  const tokens = await exchange(l);
  expect(tokens.scope).toBe('openid user/*.rs');
  const denied = await authorize(server, {
    clientId: 'test-app',
    ...alice,
    scope: 'openid',
    consent: 'deny',
  });
  expect(denied.callback.searchParams.get('error')).toBe('access_denied');
});

test('refresh tokens rotate, are bound to the client, never widen the scope, and die with revocation', async () => {
  const tokens = await loginTokens(server, {
    clientId: 'test-app',
    ...alice,
    scope: 'openid offline_access user/*.rs',
  });
  expect(tokens.scope).toBe('openid offline_access user/*.rs');
  const first = tokens.refresh_token!;
  const refresh = (rt: string, extra: Record<string, string> = {}, client = 'test-app') =>
    formPost(tokenUrl, { grant_type: 'refresh_token', refresh_token: rt, client_id: client, ...extra });

  const wider = await refresh(first, { scope: 'openid offline_access user/*.rs user/*.cruds' });
  expect([wider.status, wider.body.error]).toEqual([400, 'invalid_scope']);
  const other = await formPost(
    tokenUrl,
    { grant_type: 'refresh_token', refresh_token: first },
    { Authorization: basic(conf.clientId, conf.clientSecret!) },
  );
  expect(other.body.error).toBe('invalid_grant');

  const rotated = await refresh(first);
  expect(rotated.status).toBe(200);
  expect(rotated.body.refresh_token).not.toBe(first);
  expect(rotated.body.scope).toBe('openid offline_access user/*.rs');
  expect(rotated.headers.get('pragma')).toBe('no-cache');
  // The old one is refused after rotation (and its reuse revokes the whole grant).
  expect((await refresh(first)).body.error).toBe('invalid_grant');
  expect((await refresh(rotated.body.refresh_token)).body.error).toBe('invalid_grant');
  expect(await fhirStatus(server, rotated.body.access_token)).toBe(401);

  // Revocation of the refresh token ends the access token too.
  const t2 = await loginTokens(server, {
    clientId: 'test-app',
    ...alice,
    scope: 'openid offline_access user/*.rs',
  });
  expect(await fhirStatus(server, t2.access_token)).not.toBe(401);
  const revoked = await formPost(`${server.url}/oauth2/revoke`, {
    token: t2.refresh_token!,
    client_id: 'test-app',
  });
  expect(revoked.status).toBe(200);
  expect(await fhirStatus(server, t2.access_token)).toBe(401);
  expect((await refresh(t2.refresh_token!)).body.error).toBe('invalid_grant');

  // Revoking the access token alone ends its grant as well.
  const t3 = await loginTokens(server, {
    clientId: 'test-app',
    ...alice,
    scope: 'openid offline_access user/*.rs',
  });
  await formPost(`${server.url}/oauth2/revoke`, { token: t3.access_token, client_id: 'test-app' });
  expect(await fhirStatus(server, t3.access_token)).toBe(401);
  expect((await refresh(t3.refresh_token!)).body.error).toBe('invalid_grant');
});

test('disabling a user (DELETE /admin/users/x) kills its access and refresh tokens at once', async () => {
  const carol = { username: 'carol', password: 'carol-password', fhirUser: 'Patient/bob' };
  const admin = await loginTokens(server, {
    clientId: 'test-app',
    username: 'admin',
    password: 'admin-password-for-tests',
    scope: 'openid fhirUser',
  });
  const created = await fetch(`${server.url}/admin/users`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${admin.access_token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(carol),
  });
  expect(created.status).toBe(201);
  const tokens = await loginTokens(server, {
    clientId: 'test-app',
    ...carol,
    scope: 'openid offline_access patient/*.rs',
  });
  expect(await fhirStatus(server, tokens.access_token)).not.toBe(401);
  const del = await fetch(`${server.url}/admin/users/carol`, {
    method: 'DELETE',
    headers: { Authorization: `Bearer ${admin.access_token}` },
  });
  expect(del.status).toBe(204);
  expect(await fhirStatus(server, tokens.access_token)).toBe(401);
  const refresh = await formPost(tokenUrl, {
    grant_type: 'refresh_token',
    refresh_token: tokens.refresh_token!,
    client_id: 'test-app',
  });
  expect(refresh.body.error).toBe('invalid_grant');
  // And the login itself is refused.
  await expect(loginTokens(server, { clientId: 'test-app', ...carol, scope: 'openid' })).rejects.toThrow(
    'too many redirects',
  );
});

test('introspection (confidential clients) answers active, scope, client_id, exp, sub, fhirUser, patient, token_type', async () => {
  const auth = oidc.ClientSecretBasic(conf.clientSecret);
  const tokens = await loginTokens(server, {
    clientId: conf.clientId,
    clientAuth: auth,
    ...alice,
    scope: 'openid fhirUser user/*.rs',
  });
  const config = await oidcConfig(server, conf.clientId, auth);
  const answer = await oidc.tokenIntrospection(config, tokens.access_token);
  expect(answer).toMatchObject({
    active: true,
    scope: 'openid fhirUser user/*.rs',
    client_id: conf.clientId,
    sub: 'alice',
    fhirUser: `${server.fhirBase}/Practitioner/alice`,
    token_type: 'Bearer',
  });
  expect(answer.exp).toBeGreaterThan(Date.now() / 1000);
  expect((await oidc.tokenIntrospection(config, 'not-a-token')).active).toBe(false);
  // A public client cannot prove who it is: nothing is revealed to it.
  const pub = await formPost(`${server.url}/oauth2/introspect`, {
    token: tokens.access_token,
    client_id: 'test-app',
  });
  expect(pub.body).toEqual({ active: false });
});

test('21.3: a user whose fhirUser does not exist yet gets a clear error page at login, and can sign in once it exists', async () => {
  const err = await login(ghost, 'openid').then(
    () => undefined,
    (e: unknown) => e as { status: number; html: string },
  );
  expect(err?.status).toBe(403);
  expect(err?.html).toContain('Practitioner/not-there-yet, which does not exist on this server yet');
  await createFhirUser(server, ghost.fhirUser);
  expect((await login(ghost, 'openid')).callback.searchParams.get('code')).toBeTruthy();
});
