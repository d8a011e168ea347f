import { randomUUID } from 'node:crypto';
import * as jose from 'jose';
import { startAuthServer } from '../helpers/auth';
import { fhirStatus, formPost } from './flows';

const pg = process.env.TEST_DATABASE_URL;
const PUBLIC_URL = 'http://fhir.example.test';

// Two API nodes on one PostgreSQL schema (as API_PROCESSES or several machines run): a token
// revoked at one is refused by the other on its next request, though the other had cached it.
(pg ? test : test.skip)(
  'a token revoked at one API node is refused by the other on its next request',
  async () => {
    const a = await startAuthServer({ overrides: { publicUrl: PUBLIC_URL } });
    const b = await startAuthServer({
      backend: a.backend,
      overrides: { publicUrl: PUBLIC_URL, databaseSchema: a.schema!, dataDir: a.dataDir },
    });
    try {
      const now = Math.floor(Date.now() / 1000);
      const client = a.backend;
      const assertion = await new jose.SignJWT({
        iss: client.clientId,
        sub: client.clientId,
        aud: `${PUBLIC_URL}/oauth2/token`,
        jti: randomUUID(),
        exp: now + 240,
      })
        .setProtectedHeader({ alg: client.alg, kid: client.kid })
        .sign(client.privateKey);
      const issued = await formPost(`${a.url}/oauth2/token`, {
        grant_type: 'client_credentials',
        scope: 'system/*.rs',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      });
      expect(issued.status).toBe(200);
      const token = issued.body.access_token as string;
      expect(await fhirStatus(b, token)).not.toBe(401);
      expect(await fhirStatus(a, token)).not.toBe(401);
      const revoke = await new jose.SignJWT({
        iss: client.clientId,
        sub: client.clientId,
        aud: `${PUBLIC_URL}/oauth2/token`,
        jti: randomUUID(),
        exp: now + 240,
      })
        .setProtectedHeader({ alg: client.alg, kid: client.kid })
        .sign(client.privateKey);
      const revoked = await formPost(`${a.url}/oauth2/revoke`, {
        token,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: revoke,
      });
      expect(revoked.status).toBe(200);
      // LISTEN/NOTIFY reaches the other node within moments.
      let status = 0;
      for (let i = 0; i < 50 && status !== 401; i++) {
        status = await fhirStatus(b, token);
        if (status !== 401) await new Promise((r) => setTimeout(r, 20));
      }
      expect(status).toBe(401);
    } finally {
      await b.close();
      await a.close();
    }
  },
);
