/**
 * fetch to a configured peer (DICOMweb import source, de-identification target), sending the
 * URL's userinfo, if any, as Basic credentials: fetch refuses credentials inside URLs.
 */
export function peerFetch(
  url: string,
  init: { method?: string; headers: Record<string, string>; body?: string },
): Promise<Response> {
  const u = new URL(url);
  const headers = { ...init.headers };
  if (u.username) {
    headers.Authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    u.username = '';
    u.password = '';
  }
  return fetch(u, { ...init, headers });
}
