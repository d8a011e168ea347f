import { createHash } from 'node:crypto';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import {
  clientCredentials,
  oidcConfig,
  privateKeyJwt,
  startAuthServer,
  SYSTEM_SCOPES,
} from '../helpers/auth';
import type { AuthTestServer } from '../helpers/auth';
import { startTestServer } from '../helpers/server';

let server: AuthTestServer;
beforeAll(async () => {
  server = await startAuthServer();
}, 180_000);
afterAll(async () => {
  await server?.close();
});

const invalid = (realm: string): string =>
  `Bearer realm="${realm}", error="invalid_token", error_description="The access token is invalid, expired or revoked"`;

async function call(path: string, authorization?: string) {
  const res = await fetch(`${server.url}${path}`, {
    headers: authorization ? { Authorization: authorization } : {},
  });
  return {
    status: res.status,
    challenge: res.headers.get('www-authenticate'),
    type: res.headers.get('content-type'),
    text: await res.text(),
  };
}

test('no token: 401 with a realm and no error code (RFC 6750); FHIR answers an OperationOutcome, DICOMweb plain text', async () => {
  const fhir = await call('/fhir/Patient');
  expect([fhir.status, fhir.challenge]).toEqual([401, `Bearer realm="${server.fhirBase}"`]);
  expect(JSON.parse(fhir.text)).toMatchObject({
    resourceType: 'OperationOutcome',
    issue: [{ code: 'login' }],
  });
  const dicom = await call('/dicom-web/studies');
  expect([dicom.status, dicom.challenge]).toEqual([401, `Bearer realm="${server.url}/dicom-web"`]);
  expect(dicom.type).toMatch(/^text\/plain/);
});

test('every bad token is 401 invalid_token: malformed, alg none, HS256 with the public key, foreign signer, wrong aud, expired, revoked', async () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: `${server.url}/oauth2`,
    aud: server.fhirBase,
    sub: 'admin',
    scope: SYSTEM_SCOPES,
    exp: now + 300,
    iat: now,
  };
  const jwks = (await (await fetch(`${server.url}/oauth2/jwks`)).json()) as { keys: jose.JWK[] };
  const rsaPublic = jwks.keys.find((k) => k.kty === 'RSA')!;
  const { privateKey: foreign } = await jose.generateKeyPair('RS256');
  const forged: [string, string][] = [
    ['Bearer', 'empty'],
    ['Bearer not a token', 'spaces'],
    ['Basic YWRtaW46YWRtaW4=', 'another scheme'],
    [`Bearer ${new jose.UnsecuredJWT(claims).encode()}`, 'alg none'],
    [
      `Bearer ${await new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(JSON.stringify(rsaPublic)))}`,
      'HS256 keyed with the public key',
    ],
    [
      `Bearer ${await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: rsaPublic.kid! }).sign(foreign)}`,
      'foreign key',
    ],
    [
      `Bearer ${await new jose.SignJWT({ ...claims, iss: 'https://evil.example.org' }).setProtectedHeader({ alg: 'RS256' }).sign(foreign)}`,
      'wrong iss',
    ],
    [`Bearer ${'A'.repeat(43)}`, 'unknown opaque token'],
  ];
  for (const [authorization, name] of forged) {
    const r = await call('/fhir/Patient', authorization);
    expect([name, r.status, r.challenge]).toEqual([name, 401, invalid(server.fhirBase)]);
    // Nothing about the failure beyond the generic description.
    expect(r.text).not.toContain('admin');
  }

  // A real token, issued at another address of the same server (localhost): its aud is that FHIR base.
  const localhost = server.url.replace('127.0.0.1', 'localhost');
  const elsewhere = await clientCredentials({ url: localhost }, server.backend, 'system/*.rs');
  expect((await call('/fhir/Patient', `Bearer ${elsewhere.access_token}`)).status).toBe(401);
  const there = await fetch(`${localhost}/fhir/Patient`, {
    headers: { Authorization: `Bearer ${elsewhere.access_token}` },
  });
  expect(there.status).not.toBe(401);

  // Expired: a token whose stored expiry has passed (the cache never keeps one beyond its exp either).
  const expiring = await clientCredentials(server, server.backend, 'system/*.rs');
  const id = createHash('sha256').update(expiring.access_token).digest('base64url');
  const row = await server.db('auth_oidc').where({ model: 'ClientCredentials', id }).first();
  const payload = { ...JSON.parse(row.payload), exp: now - 10, iat: now - 400 };
  await server
    .db('auth_oidc')
    .where({ model: 'ClientCredentials', id })
    .update({ payload: JSON.stringify(payload) });
  const expired = await call('/fhir/Patient', `Bearer ${expiring.access_token}`);
  expect([expired.status, expired.challenge]).toEqual([401, invalid(server.fhirBase)]);

  // Revoked at the revocation endpoint: refused on the next request.
  const revoking = await clientCredentials(server, server.backend, 'system/*.rs');
  expect((await call('/fhir/Patient', `Bearer ${revoking.access_token}`)).status).not.toBe(401);
  const config = await oidcConfig(
    server,
    server.backend.clientId,
    privateKeyJwt(server.backend, undefined, `${server.url}/oauth2/token`),
  );
  await oidc.tokenRevocation(config, revoking.access_token);
  const after = await call('/fhir/Patient', `Bearer ${revoking.access_token}`);
  expect([after.status, after.challenge]).toEqual([401, invalid(server.fhirBase)]);
  expect((await call('/dicom-web/studies', `Bearer ${revoking.access_token}`)).challenge).toBe(
    invalid(`${server.url}/dicom-web`),
  );
});

test('public without a token: metadata, both smart-configurations, /oauth2, the login page, health and metrics; nothing else', async () => {
  for (const path of [
    '/fhir/metadata',
    '/fhir/.well-known/smart-configuration',
    '/.well-known/smart-configuration',
    '/oauth2/.well-known/openid-configuration',
    '/oauth2/jwks',
    '/healthz',
    '/readyz',
    '/metrics',
  ])
    expect([path, (await call(path)).status]).toEqual([path, 200]);
  const authorize = await fetch(
    `${server.url}/oauth2/authorize?client_id=test-app&response_type=code&scope=openid&redirect_uri=${encodeURIComponent('https://app.example.org/callback')}&aud=${encodeURIComponent(server.fhirBase)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`,
    { redirect: 'manual' },
  );
  expect(authorize.status).toBe(303);
  const page = await fetch(new URL(authorize.headers.get('location')!, server.url), {
    headers: {
      Cookie: authorize.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; '),
    },
  });
  expect(page.status).toBe(200);
  expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
  expect(page.headers.get('x-frame-options')).toBe('DENY');
  expect(page.headers.get('cache-control')).toBe('no-store');
  expect(page.headers.get('referrer-policy')).toBe('no-referrer');
  const html = await page.text();
  expect(html).not.toMatch(/<script/i);
  expect(html).toContain('<label for="password">');

  for (const path of [
    '/fhir',
    '/fhir/Patient/x',
    '/fhir/Patient/x/_history',
    '/fhir/_history',
    '/dicom-web/studies',
    '/dicom-web',
  ])
    expect([path, (await call(path)).status]).toEqual([path, 401]);
  const admin = await fetch(`${server.url}/admin/users`, {
    method: 'POST',
    body: '{}',
    headers: { 'Content-Type': 'application/json' },
  });
  expect(admin.status).toBe(401);
});

test('discovery: both URLs, CORS *, the SMART capabilities; the CapabilityStatement carries rest.security', async () => {
  for (const path of ['/fhir/.well-known/smart-configuration', '/.well-known/smart-configuration']) {
    const res = await fetch(`${server.url}${path}`, { headers: { Origin: 'https://app.example.org' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const c = (await res.json()) as any;
    expect(c).toMatchObject({
      issuer: `${server.url}/oauth2`,
      jwks_uri: `${server.url}/oauth2/jwks`,
      authorization_endpoint: `${server.url}/oauth2/authorize`,
      token_endpoint: `${server.url}/oauth2/token`,
      introspection_endpoint: `${server.url}/oauth2/introspect`,
      revocation_endpoint: `${server.url}/oauth2/revoke`,
      registration_endpoint: `${server.url}/oauth2/register`,
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    });
    expect(c.grant_types_supported).toEqual(
      expect.arrayContaining(['authorization_code', 'client_credentials', 'refresh_token']),
    );
    expect(c.capabilities).toEqual(
      expect.arrayContaining(
        'launch-ehr launch-standalone client-public client-confidential-symmetric client-confidential-asymmetric sso-openid-connect context-ehr-patient context-ehr-encounter context-standalone-patient permission-offline permission-online permission-patient permission-user permission-v1 permission-v2'.split(
          ' ',
        ),
      ),
    );
    expect(c.scopes_supported).toEqual(
      expect.arrayContaining(['openid', 'fhirUser', 'launch/patient', 'offline_access']),
    );
  }
  const metadata = (await (await fetch(`${server.fhirBase}/metadata`)).json()) as any;
  const security = metadata.rest[0].security;
  expect(security.cors).toBe(true);
  expect(security.service[0].coding[0]).toMatchObject({
    system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
    code: 'SMART-on-FHIR',
  });
  const uris = security.extension.find(
    (e: { url: string }) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
  );
  expect(
    Object.fromEntries(uris.extension.map((e: { url: string; valueUri: string }) => [e.url, e.valueUri])),
  ).toMatchObject({
    authorize: `${server.url}/oauth2/authorize`,
    token: `${server.url}/oauth2/token`,
    register: `${server.url}/oauth2/register`,
    introspect: `${server.url}/oauth2/introspect`,
    revoke: `${server.url}/oauth2/revoke`,
  });
});

test('CORS for the FHIR API: preflights answered without a token; Location, ETag and Content-Location exposed', async () => {
  const pre = await fetch(`${server.fhirBase}/Patient`, {
    method: 'OPTIONS',
    headers: {
      Origin: 'https://app.example.org',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization, content-type',
    },
  });
  expect(pre.status).toBe(204);
  expect(pre.headers.get('access-control-allow-origin')).toBe('*');
  expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
  const res = await fetch(`${server.fhirBase}/Patient`, { headers: { Origin: 'https://app.example.org' } });
  expect(res.headers.get('access-control-allow-origin')).toBe('*');
  expect(res.headers.get('access-control-expose-headers')).toMatch(/Location.*ETag.*Content-Location/);
});

test('AUTH_REQUIRED=false is refused on a non-loopback HOST; on loopback it warns and every request is the development user', async () => {
  await expect(startTestServer({ authRequired: false, host: '0.0.0.0' })).rejects.toThrow(
    /AUTH_REQUIRED=false is for local development only/,
  );
  const dev = await startTestServer({ authRequired: false });
  try {
    expect(dev.logs()).toMatch(/"level":40.*AUTH_REQUIRED=false/);
    expect((await fetch(`${dev.fhirBase}/Patient`)).status).toBe(200);
  } finally {
    await dev.close();
  }
}, 180_000);
