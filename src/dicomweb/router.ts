import { FhirError } from '../shared';
import { deidentifyHandler } from './deidentify';
import { deleteHandler } from './delete';
import { importHandler, importStatusHandler } from './import';
import { qidoHandler } from './qido';
import { renderedHandler, thumbnailHandler } from './rendered';
import { stowHandler } from './stow';
import type { DicomWebHandler, DicomWebRequest } from './types';
import { bulkdataHandler, framesHandler, metadataHandler, retrieveHandler } from './wado';

interface Route {
  method: DicomWebRequest['method'];
  /** Segment patterns; ':uid' matches a UID, ':list' a frame list, '*' the rest of the path. */
  pattern: string[];
  handler: DicomWebHandler;
  name: string;
}

const S = ['studies', ':uid'];
const SE = [...S, 'series', ':uid'];
const I = [...SE, 'instances', ':uid'];

const ROUTES: Route[] = [
  { method: 'POST', pattern: ['studies'], handler: stowHandler, name: 'stow' },
  { method: 'POST', pattern: S, handler: stowHandler, name: 'stow' },
  { method: 'GET', pattern: ['studies'], handler: qidoHandler, name: 'qido-studies' },
  { method: 'GET', pattern: ['series'], handler: qidoHandler, name: 'qido-series' },
  { method: 'GET', pattern: ['instances'], handler: qidoHandler, name: 'qido-instances' },
  { method: 'GET', pattern: [...S, 'series'], handler: qidoHandler, name: 'qido-series' },
  { method: 'GET', pattern: [...S, 'instances'], handler: qidoHandler, name: 'qido-instances' },
  { method: 'GET', pattern: [...SE, 'instances'], handler: qidoHandler, name: 'qido-instances' },
  { method: 'GET', pattern: S, handler: retrieveHandler, name: 'wado-study' },
  { method: 'GET', pattern: SE, handler: retrieveHandler, name: 'wado-series' },
  { method: 'GET', pattern: I, handler: retrieveHandler, name: 'wado-instance' },
  { method: 'GET', pattern: [...S, 'metadata'], handler: metadataHandler, name: 'wado-metadata' },
  { method: 'GET', pattern: [...SE, 'metadata'], handler: metadataHandler, name: 'wado-metadata' },
  { method: 'GET', pattern: [...I, 'metadata'], handler: metadataHandler, name: 'wado-metadata' },
  ...[S, SE, I, [...I, 'frames', ':list']].flatMap((p): Route[] => [
    { method: 'GET', pattern: [...p, 'rendered'], handler: renderedHandler, name: 'wado-rendered' },
    { method: 'GET', pattern: [...p, 'thumbnail'], handler: thumbnailHandler, name: 'wado-thumbnail' },
  ]),
  { method: 'GET', pattern: [...I, 'frames', '*'], handler: framesHandler, name: 'wado-frames' },
  { method: 'GET', pattern: [...I, 'bulkdata', '*'], handler: bulkdataHandler, name: 'wado-bulkdata' },
  { method: 'POST', pattern: [...S, '$deidentify'], handler: deidentifyHandler, name: 'deidentify' },
  { method: 'POST', pattern: ['import'], handler: importHandler, name: 'import' },
  { method: 'GET', pattern: ['import', '*'], handler: importStatusHandler, name: 'import-status' },
  { method: 'DELETE', pattern: S, handler: deleteHandler, name: 'delete' },
  { method: 'DELETE', pattern: SE, handler: deleteHandler, name: 'delete' },
  { method: 'DELETE', pattern: I, handler: deleteHandler, name: 'delete' },
];

const UID = /^[0-9.]{1,64}$/;
const FRAME_LIST = /^[1-9][0-9]{0,8}(,[1-9][0-9]{0,8})*$/;

function matches(pattern: string[], segments: string[]): boolean {
  const rest = pattern.at(-1) === '*';
  if (rest ? segments.length < pattern.length : segments.length !== pattern.length) return false;
  return pattern.every((p, i) => {
    const s = segments[i] ?? '';
    if (p === ':uid') return UID.test(s);
    if (p === ':list') return FRAME_LIST.test(s);
    return p === '*' || p === s;
  });
}

/** Finds the service for a path; 404 for unknown paths, 405 for a known path with another method. */
export function resolveDicomWeb(req: DicomWebRequest): { handler: DicomWebHandler; name: string } {
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const onPath = ROUTES.filter((r) => matches(r.pattern, req.segments));
  const route = onPath.find((r) => r.method === method);
  if (route) return route;
  if (onPath.length > 0)
    throw new FhirError(405, { code: 'not-supported', message: `${req.method} is not allowed here` });
  throw FhirError.of('not-found', 'No such DICOMweb resource');
}
