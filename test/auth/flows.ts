// Shared bits of the auth tests (not a test file).
import { SYSTEM_ACCESS } from '../../src/shared';
import type { AuthTestServer } from '../helpers/auth';

export async function createFhirUser(server: AuthTestServer, reference: string): Promise<void> {
  const [resourceType = '', id = ''] = reference.split('/');
  await server.repo.transaction((repo) => repo.update(SYSTEM_ACCESS, { resourceType, id } as never));
}

/** A form post to a token-style endpoint, answered as JSON. */
export async function formPost(
  url: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** Status of a FHIR read with this token: 401 when the token is refused (403 is the access layer's). */
export async function fhirStatus(server: { fhirBase: string }, token: string): Promise<number> {
  const res = await fetch(`${server.fhirBase}/Patient`, { headers: { Authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

export function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}
