import type { RequestListener } from 'node:http';
import { buildOutcome } from '../shared';
import { DICOMWEB_PREFIX } from './dicomweb-adapter';

/** Seconds a client is asked to wait while the server starts (migrations take a few). */
const STARTING_RETRY_AFTER = '2';

/**
 * What the port answers while the database is opened and migrated: `/healthz` 200 (the process
 * is alive, so an orchestrator does not restart it), everything else 503 with `Retry-After`
 * (so `/readyz` keeps a load balancer away until the server can serve), as an OperationOutcome
 * or, below /dicom-web, as the plain text DICOMweb errors are.
 */
export function startingListener(): RequestListener {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    // A body is read and dropped, so a client still sending one gets the answer, not a reset.
    req.resume();
    if (path === '/healthz') {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ status: 'starting' }));
      return;
    }
    const message = 'The server is starting (opening and migrating its database); retry shortly';
    res.statusCode = 503;
    res.setHeader('Retry-After', STARTING_RETRY_AFTER);
    if (path === DICOMWEB_PREFIX || path.startsWith(`${DICOMWEB_PREFIX}/`)) {
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(message);
    } else {
      res.setHeader('Content-Type', 'application/fhir+json; charset=utf-8');
      res.end(JSON.stringify(buildOutcome([{ code: 'transient', message }])));
    }
  };
}
