import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { AccessContext } from '../shared';
import { badRequest, FhirError, peerFetch } from '../shared';
import type { DicomJson } from './dicom-json';
import { firstString } from './dicom-json';
import { parseJsonBody, readSmallBody } from './json-body';
import { mediaTypeParams } from './multipart';
import type { Outcome } from './stow';
import { ingestMultipart } from './stow';
import type {
  DicomWebDeps,
  DicomWebRequest,
  DicomWebResponse,
  ImportJob,
  ImportJobsApi,
  ImportRequest,
  ImportStudyResult,
} from './types';

interface JobRow {
  id: string;
  status: ImportJob['status'];
  request: string;
  result: string | null;
}

/** A node that stopped mid-job stops touching it; after this long another node takes it over. */
const STALE_MS = 2 * 60_000;
const MAX_STUDIES = 10_000;
const MAX_REQUEST_BYTES = 1024 * 1024;
const UID = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

/**
 * Import jobs: QIDO-RS on the peer to find studies, WADO-RS to fetch each one as stored, then
 * the STOW-RS ingest path, so imported instances get the same checks, index rows and ImagingStudy.
 * Jobs live in the database; a job interrupted by a shutdown is resumed at the next start.
 */
export class ImportJobs implements ImportJobsApi {
  private readonly running = new Set<Promise<void>>();
  private stopping = false;

  /** A getter: the jobs are part of the dependencies they use. */
  constructor(private readonly depsOf: () => DicomWebDeps) {}

  private get deps(): DicomWebDeps {
    return this.depsOf();
  }

  async create(request: ImportRequest): Promise<string> {
    const id = randomUUID();
    const now = this.deps.clock.now();
    await (
      await this.deps.repo.reader()
    )('dicom_import').insert({
      id,
      status: 'queued',
      request: JSON.stringify(request),
      created_at: now,
      updated_at: now,
    });
    return id;
  }

  async get(id: string): Promise<ImportJob | undefined> {
    const row = (await (await this.deps.repo.reader())('dicom_import').where({ id }).first()) as
      JobRow | undefined;
    if (!row) return undefined;
    const request = JSON.parse(row.request) as ImportRequest;
    const result = row.result
      ? (JSON.parse(row.result) as Pick<ImportJob, 'studies' | 'error'>)
      : { studies: [] };
    return { id, status: row.status, peer: request.peer, ...result };
  }

  /** Runs a job in the background; its outcome is read with get(). */
  start(id: string): void {
    const p = this.run(id).catch((err: unknown) => {
      this.deps.logger.error({ errName: (err as Error).name, job: id }, 'import job crashed');
    });
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  /** Queued jobs, and running ones whose node went quiet, are started again. */
  async resume(): Promise<void> {
    const exec = await this.deps.repo.reader();
    const stale = new Date(this.deps.clock.now().getTime() - STALE_MS);
    await exec('dicom_import')
      .where('status', 'running')
      .andWhere('updated_at', '<', stale)
      .update({ status: 'queued' });
    const queued = await exec<{ id: string }>('dicom_import').where('status', 'queued').select('id');
    for (const { id } of queued) this.start(id);
  }

  /** Lets the current study finish; unfinished jobs stay queued for the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  async run(id: string): Promise<void> {
    const exec = await this.deps.repo.reader();
    const claimed = (await exec('dicom_import')
      .where({ id, status: 'queued' })
      .update({ status: 'running', updated_at: this.deps.clock.now() })
      .returning('*')) as JobRow[];
    const row = claimed[0];
    if (!row) return;
    const request = JSON.parse(row.request) as ImportRequest;
    const results: ImportStudyResult[] = row.result
      ? (JSON.parse(row.result) as { studies: ImportStudyResult[] }).studies
      : [];
    const save = async (status: ImportJob['status'], error?: string): Promise<void> => {
      await (
        await this.deps.repo.reader()
      )('dicom_import')
        .where({ id })
        .update({
          status,
          result: JSON.stringify({ studies: results, ...(error && { error }) }),
          updated_at: this.deps.clock.now(),
        });
    };
    const base = this.deps.config.peers[request.peer];
    if (!base) return save('failed', `No DICOMweb peer named ${request.peer} is configured`);
    try {
      const uids = request.studies ?? (await findStudies(base, request.query ?? {}));
      for (const uid of uids) {
        if (results.some((r) => r.uid === uid)) continue;
        if (this.stopping) {
          await save('queued');
          return;
        }
        results.push(await this.importStudy(base, uid, request.access));
        await save('running');
      }
      const allFailed = results.length > 0 && results.every((r) => r.stored === 0);
      await save(allFailed ? 'failed' : 'completed', allFailed ? 'No instance could be imported' : undefined);
    } catch (err) {
      this.deps.logger.warn({ job: id, errName: (err as Error).name }, 'import job failed');
      await save('failed', (err as Error).message);
    }
  }

  private async importStudy(base: string, uid: string, access: AccessContext): Promise<ImportStudyResult> {
    let res = await get(
      `${base}/studies/${uid}`,
      'multipart/related; type="application/dicom"; transfer-syntax=*',
    );
    // Peers that cannot send "as stored" send their default syntax instead.
    if (res.status === 406)
      res = await get(`${base}/studies/${uid}`, 'multipart/related; type="application/dicom"');
    if (res.status !== 200 || !res.body)
      return { uid, stored: 0, failed: 0, error: `The peer answered ${res.status} to WADO-RS` };
    const boundary = mediaTypeParams(res.headers.get('content-type') ?? '').params.boundary;
    if (!boundary) return { uid, stored: 0, failed: 0, error: 'The peer sent no multipart boundary' };
    const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
    const outcomes: Outcome[] = await ingestMultipart(body, boundary, uid, access, this.deps);
    return {
      uid,
      stored: outcomes.filter((o) => o.stored).length,
      failed: outcomes.filter((o) => o.failure).length,
    };
  }
}

function get(url: string, accept: string): Promise<Response> {
  return peerFetch(url, { headers: { Accept: accept } });
}

async function findStudies(base: string, query: Record<string, string>): Promise<string[]> {
  const res = await get(`${base}/studies?${new URLSearchParams(query).toString()}`, 'application/dicom+json');
  if (res.status === 204) return [];
  if (res.status !== 200) throw new Error(`The peer answered ${res.status} to QIDO-RS`);
  const found = (await res.json()) as DicomJson[];
  const uids = found.map((s) => firstString(s, '0020000D')).filter((u): u is string => !!u && UID.test(u));
  if (uids.length > MAX_STUDIES) throw new Error(`The query finds more than ${MAX_STUDIES} studies`);
  return [...new Set(uids)];
}

function parseRequest(raw: unknown, deps: DicomWebDeps, access: AccessContext): ImportRequest {
  const r = (raw ?? {}) as { peer?: unknown; studies?: unknown; query?: unknown };
  if (typeof r.peer !== 'string' || !(r.peer in deps.config.peers))
    throw badRequest('peer must name a configured DICOMweb peer', 'peer');
  const studies = r.studies;
  const query = r.query;
  if ((studies === undefined) === (query === undefined))
    throw badRequest('Give either studies or query', 'studies');
  if (
    studies !== undefined &&
    (!Array.isArray(studies) ||
      studies.length === 0 ||
      studies.length > MAX_STUDIES ||
      !studies.every((s) => typeof s === 'string' && UID.test(s)))
  )
    throw badRequest('studies must be a list of Study Instance UIDs', 'studies');
  if (
    query !== undefined &&
    (typeof query !== 'object' ||
      query === null ||
      Array.isArray(query) ||
      !Object.values(query).every((v) => typeof v === 'string'))
  )
    throw badRequest('query must map QIDO-RS keys to strings', 'query');
  return {
    peer: r.peer,
    ...(studies !== undefined && { studies: studies as string[] }),
    ...(query !== undefined && { query: query as Record<string, string> }),
    access,
  };
}

function jobResponse(job: ImportJob, deps: DicomWebDeps): DicomWebResponse {
  const done = job.status === 'completed' || job.status === 'failed';
  return {
    status: done ? 200 : 202,
    contentType: 'application/json',
    headers: {
      'Content-Location': `${deps.base}/import/${job.id}`,
      ...(!done && { 'X-Progress': `${job.status}: ${job.studies.length} studies done`, 'Retry-After': '1' }),
    },
    body: JSON.stringify(job),
  };
}

/** POST /dicom-web/import: with Prefer: respond-async, 202 and a status URL; otherwise waits. */
export async function importHandler(req: DicomWebRequest, deps: DicomWebDeps): Promise<DicomWebResponse> {
  if (mediaTypeParams(req.headers.contentType ?? '').type !== 'application/json')
    throw new FhirError(415, { code: 'not-supported', message: 'The import request is application/json' });
  const request = parseRequest(
    parseJsonBody(await readSmallBody(req.body, MAX_REQUEST_BYTES)),
    deps,
    req.access,
  );
  const id = await deps.imports.create(request);
  if (/\brespond-async\b/.test(req.headers.prefer ?? '')) {
    deps.imports.start(id);
    return { status: 202, headers: { 'Content-Location': `${deps.base}/import/${id}` } };
  }
  await deps.imports.run(id);
  const job = await deps.imports.get(id);
  if (!job) throw FhirError.of('exception', 'The import job vanished');
  return { ...jobResponse(job, deps), status: finishedStatus(job) };
}

/**
 * The status of a synchronous import that has ended. Completed is 200 (the body counts what failed
 * per study). A failed job is not: when the peer delivered instances and every one was refused by
 * the STOW-RS checks, 409, as PS3.18 answers a STOW-RS that stored nothing; otherwise the peer
 * did not deliver (unreachable, or an error or no study to QIDO-RS or WADO-RS), which is 502, the
 * HTTP status of a gateway whose upstream failed it. Polling a job stays 200: the job was found.
 */
function finishedStatus(job: ImportJob): number {
  if (job.status !== 'failed') return 200;
  return job.studies.some((s) => s.failed > 0) ? 409 : 502;
}

/** GET /dicom-web/import/{id}: 202 while queued or running, 200 with the outcome when done. */
export async function importStatusHandler(
  req: DicomWebRequest,
  deps: DicomWebDeps,
): Promise<DicomWebResponse> {
  const job = await deps.imports.get(req.segments[1] ?? '');
  if (!job) throw FhirError.of('not-found', 'No such import job');
  return jobResponse(job, deps);
}
