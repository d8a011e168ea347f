import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { FileKeyStore } from '../src/keys';
import { fhirFetch, startTestServer } from './helpers/server';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keys-test-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

test('a secret is generated once into files only the owner can read, and the same one is read after a restart', async () => {
  const keysDir = path.join(dir, 'keys');
  const first = await new FileKeyStore(keysDir).secret('deid');
  expect(Buffer.from(first, 'base64url')).toHaveLength(32);
  expect((await fs.stat(keysDir)).mode & 0o777).toBe(0o700);
  expect((await fs.stat(path.join(keysDir, 'secret-deid.json'))).mode & 0o777).toBe(0o600);
  expect(await new FileKeyStore(keysDir).secret('deid')).toBe(first);
  // Each name is its own secret, and a configured value wins without touching the files.
  expect(await new FileKeyStore(keysDir).secret('cookie')).not.toBe(first);
  expect(await new FileKeyStore(keysDir, { secrets: { master: 'from-config' } }).secret('master')).toBe(
    'from-config',
  );
  await expect(fs.stat(path.join(keysDir, 'secret-master.json'))).rejects.toThrow();
});

test('processes creating a key at the same time all end up with the one that was stored', async () => {
  const keysDir = path.join(dir, 'keys');
  const values = await Promise.all(
    Array.from({ length: 8 }, () => new FileKeyStore(keysDir).secret('cookie')),
  );
  expect(new Set(values).size).toBe(1);
  expect((await fs.readdir(keysDir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
});

test('signing keys are private RSA and EC JWKs with ids, stable across restarts, or taken from configuration', async () => {
  const keys = await new FileKeyStore(dir).signingKeys();
  expect(keys.map((k) => [k.kty, k.alg, k.use])).toEqual([
    ['RSA', 'RS256', 'sig'],
    ['EC', 'ES256', 'sig'],
  ]);
  for (const k of keys) expect(typeof k.d).toBe('string');
  expect(await new FileKeyStore(dir).signingKeys()).toEqual(keys);
  const configured = JSON.stringify({ keys: [keys[1]] });
  expect(await new FileKeyStore(path.join(dir, 'other'), { signingJwks: configured }).signingKeys()).toEqual([
    keys[1],
  ]);
  const pub = { kty: 'EC', crv: 'P-256', x: keys[1]?.x, y: keys[1]?.y };
  await expect(
    new FileKeyStore(dir, { signingJwks: JSON.stringify({ keys: [pub] }) }).signingKeys(),
  ).rejects.toThrow('must be a private key');
  await fs.writeFile(path.join(dir, 'secret-deid.json'), '{not json');
  await expect(new FileKeyStore(dir).secret('deid')).rejects.toThrow('secret-deid.json is not valid JSON');
});

test('with no DEID_KEY configured, FHIR $deidentify works on a fresh server and keeps its pseudonyms across a restart', async () => {
  const input: Bundle = {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [{ resource: { resourceType: 'Patient', id: 'p1', name: [{ family: 'Quackenbush' }] } }],
  };
  const pseudonymOf = async (): Promise<{ id: string; logs: string; secret: string }> => {
    const server = await startTestServer({ dataDir: dir, deidKey: undefined });
    try {
      const res = await fhirFetch(server, '$deidentify', { body: input });
      expect(res.status).toBe(200);
      const secret = JSON.parse(await fs.readFile(path.join(dir, 'keys', 'secret-deid.json'), 'utf8')) as {
        value: string;
      };
      return { id: String(res.body.entry[0].resource.id), logs: server.logs(), secret: secret.value };
    } finally {
      await server.close();
    }
  };
  const first = await pseudonymOf();
  const second = await pseudonymOf();
  expect(first.id).not.toBe('p1');
  expect(second.id).toBe(first.id);
  expect(first.logs + second.logs).not.toContain(first.secret);
});
