import { Readable } from 'node:stream';
import type { AccessContext } from '../shared';
import { FhirError } from '../shared';
import { BlobTooLargeError, releaseBlobs } from '../storage';
import type { DicomJson } from './dicom-json';
import { mediaTypeParams, MultipartError, parseMultipart } from './multipart';
import type { ParsedInstance } from './parse';
import { parseInstance } from './parse';
import { FAILURE, StowFailure } from './reasons';
import type { StoredInstance } from './store';
import type { DicomWebDeps, DicomWebRequest, DicomWebResponse } from './types';
import { studyUrl } from './urls';
import { warningValue } from './warning';

export interface Outcome {
  index: number;
  stored?: StoredInstance;
  failure?: { reason: number; message: string; sopClassUid?: string; sopUid?: string };
}

/**
 * STOW-RS (PS3.18 10.5). Each part streams into the blob store and is parsed on its own; a bad
 * part fails only itself. Index rows and the ImagingStudy are written per study in one
 * transaction, so after a crash either both exist or neither.
 */
export async function stowHandler(req: DicomWebRequest, deps: DicomWebDeps): Promise<DicomWebResponse> {
  const targetStudy = req.segments[1];
  const { type, params } = mediaTypeParams(req.headers.contentType ?? '');
  if (type !== 'multipart/related' || (params.type ?? '').toLowerCase() !== 'application/dicom')
    throw new FhirError(415, {
      code: 'not-supported',
      message: 'STOW-RS takes multipart/related; type="application/dicom"',
    });
  const boundary = params.boundary;
  if (!boundary) throw FhirError.of('invalid', 'The multipart boundary parameter is missing');
  if (!req.body) throw FhirError.of('invalid', 'The request has no body');

  const outcomes = await ingestMultipart(req.body, boundary, targetStudy, req.access, deps);
  if (outcomes.length === 0) throw FhirError.of('invalid', 'The request holds no instances');

  const referenced = outcomes.filter((o) => o.stored);
  const failed = outcomes.filter((o) => o.failure);
  const body: DicomJson = {};
  const studies = [...new Set(referenced.map((o) => o.stored?.parsed.studyUid))];
  const retrieveStudy = targetStudy ?? (studies.length === 1 ? studies[0] : undefined);
  if (retrieveStudy) body['00081190'] = { vr: 'UR', Value: [studyUrl(deps, retrieveStudy)] };
  if (failed.length > 0)
    body['00081198'] = {
      vr: 'SQ',
      Value: failed.map(({ index, failure: f }) => ({
        ...(f?.sopClassUid && { '00081150': { vr: 'UI', Value: [f.sopClassUid] } }),
        ...(f?.sopUid && { '00081155': { vr: 'UI', Value: [f.sopUid] } }),
        '00081197': { vr: 'US', Value: [f?.reason ?? FAILURE.processingFailure] },
        // ErrorComment is an LO: 64 characters; the Warning header carries the whole text.
        '00000902': { vr: 'LO', Value: [asLongString(failureText(index, f))] },
      })),
    };
  if (referenced.length > 0)
    body['00081199'] = {
      vr: 'SQ',
      Value: referenced.map(({ stored }) => {
        const p = stored?.parsed as ParsedInstance;
        return {
          '00081150': { vr: 'UI', Value: [p.sopClassUid] },
          '00081155': { vr: 'UI', Value: [p.sopUid] },
          '00081190': {
            vr: 'UR',
            Value: [`${studyUrl(deps, p.studyUid)}/series/${p.seriesUid}/instances/${p.sopUid}`],
          },
        };
      }),
    };
  const status = failed.length === 0 ? 200 : referenced.length === 0 ? 409 : 202;
  return {
    status,
    contentType: 'application/dicom+json',
    ...(failed.length > 0 && {
      headers: {
        Warning: failed
          .map(({ index, failure: f }) => warningValue(deps.base, warningText(index, f)))
          .join(', '),
      },
    }),
    body: JSON.stringify(body),
  };
}

/**
 * What failed, for people: the part by its position in the request (from 1) and the reason, which
 * never quotes the instance's data.
 */
function failureText(index: number, f: Outcome['failure']): string {
  return `Part ${index + 1}: ${f?.message ?? 'failed'}`;
}

function warningText(index: number, f: Outcome['failure']): string {
  const reason = f?.reason ?? FAILURE.processingFailure;
  return `${failureText(index, f)} (failure reason 0x${reason.toString(16).toUpperCase().padStart(4, '0')})`;
}

function asLongString(text: string): string {
  const clean = text.replace(/[\\\x00-\x1f]/g, ' ');
  return clean.length <= 64 ? clean : `${clean.slice(0, 61)}...`;
}

/**
 * The ingest path shared by STOW-RS and imports from a peer: every part is stored and parsed on
 * its own, then each study's instances are committed together. Returns one outcome per part, in
 * order; throws MultipartError-based 400s only when the body itself cannot be read.
 */
export async function ingestMultipart(
  body: Readable,
  boundary: string,
  targetStudy: string | undefined,
  access: AccessContext,
  deps: DicomWebDeps,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  // Commits of this request's study wait a moment for it, so that they can share a transaction.
  const arrival = deps.commits.announce(access);
  try {
    await parseMultipart(body, boundary, async (part) => {
      const outcome = await storePart(part.index, part.headers, part.body, targetStudy, deps);
      if (outcome.stored) arrival.study(outcome.stored.parsed.studyUid);
      outcomes.push(outcome);
    });
  } catch (err) {
    await releaseBlobs(await deps.repo.reader(), deps.blobs, keysOf(outcomes));
    if (err instanceof MultipartError)
      throw FhirError.of('invalid', `Unreadable multipart body: ${err.message}`);
    throw err;
  } finally {
    arrival.done();
  }
  return commitOutcomes(outcomes, access, deps);
}

/**
 * Stores whole files made by the server itself (de-identified copies) through the same path, each
 * as soon as it is produced, so only one is in memory at a time.
 */
export async function ingestFiles(
  files: AsyncIterable<Buffer>,
  access: AccessContext,
  deps: DicomWebDeps,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  try {
    for await (const file of files)
      outcomes.push(
        await storePart(
          outcomes.length,
          { 'content-type': 'application/dicom' },
          Readable.from([file]),
          undefined,
          deps,
        ),
      );
  } catch (err) {
    // The producer failed: what was stored for it so far is not kept.
    await releaseBlobs(await deps.repo.reader(), deps.blobs, keysOf(outcomes));
    throw err;
  }
  return commitOutcomes(outcomes, access, deps);
}

async function commitOutcomes(
  outcomes: Outcome[],
  access: AccessContext,
  deps: DicomWebDeps,
): Promise<Outcome[]> {
  outcomes.sort((a, b) => a.index - b.index);
  const byStudy = new Map<string, Outcome[]>();
  for (const o of outcomes) {
    if (!o.stored) continue;
    const list = byStudy.get(o.stored.parsed.studyUid) ?? [];
    list.push(o);
    byStudy.set(o.stored.parsed.studyUid, list);
  }
  for (const [studyUid, list] of byStudy) await commitStudy(studyUid, list, access, deps);
  return outcomes;
}

async function storePart(
  index: number,
  headers: Record<string, string>,
  body: Readable,
  targetStudy: string | undefined,
  deps: DicomWebDeps,
): Promise<Outcome> {
  const partType = mediaTypeParams(headers['content-type'] ?? 'application/dicom').type;
  if (partType !== 'application/dicom') {
    body.resume(); // discard it so the following parts can be read
    return {
      index,
      failure: {
        reason: FAILURE.cannotUnderstand,
        message: `Media type ${partType} is not application/dicom`,
      },
    };
  }
  let blob;
  try {
    // The bytes are parsed next: kept from the write rather than read back, unless they are many.
    blob = await deps.blobs.put(body, {
      maxBytes: deps.config.maxInstanceBytes,
      keepBytes: deps.config.parseInMemoryBytes,
    });
  } catch (err) {
    // The failed write destroyed the part stream; the parser skips the rest of its bytes.
    if (err instanceof BlobTooLargeError)
      return { index, failure: { reason: FAILURE.outOfResources, message: err.message } };
    throw err;
  }
  try {
    if (blob.size === 0) throw new StowFailure(FAILURE.cannotUnderstand, 'Empty part');
    const parsed = await parseStored(deps, blob.key, blob.bytes);
    if (targetStudy && parsed.studyUid !== targetStudy)
      throw new StowFailure(FAILURE.doesNotMatch, 'Instance belongs to another study', parsed);
    // Without the bytes: a request of many parts must not hold them all until its commit.
    return { index, stored: { parsed, blob: { key: blob.key, size: blob.size, sha256: blob.sha256 } } };
  } catch (err) {
    await releaseBlobs(await deps.repo.reader(), deps.blobs, [blob.key]);
    if (!(err instanceof StowFailure)) throw err;
    const ids = err.ids;
    return {
      index,
      failure: {
        reason: err.reason,
        message: err.message,
        sopClassUid: ids?.sopClassUid,
        sopUid: ids?.sopUid,
      },
    };
  }
}

/** Parses a stored part from the bytes kept by its write, or else from its file by ranges. */
async function parseStored(deps: DicomWebDeps, key: string, bytes?: Buffer): Promise<ParsedInstance> {
  const limits = {
    inlineBinaryBytes: deps.config.inlineBinaryBytes,
    maxFrames: deps.config.maxFrames,
    maxFramePixels: deps.config.maxFramePixels,
  };
  if (bytes) return parseInstance(bytes, limits);
  const reader = await deps.blobs.open(key);
  try {
    return await parseInstance(reader, limits);
  } finally {
    await reader.close();
  }
}

async function commitStudy(
  studyUid: string,
  list: Outcome[],
  access: AccessContext,
  deps: DicomWebDeps,
): Promise<void> {
  const instances = list.map((o) => o.stored).filter((s): s is StoredInstance => s !== undefined);
  try {
    await deps.commits.submit(studyUid, access, instances);
  } catch (err) {
    // The whole study failed to commit: report each of its instances, drop their unreferenced blobs.
    deps.logger.error(
      { errName: (err as Error).name, errCode: (err as { code?: string }).code },
      'STOW commit failed',
    );
    await releaseBlobs(await deps.repo.reader(), deps.blobs, keysOf(list));
    for (const o of list) {
      const p = o.stored?.parsed;
      o.failure = {
        reason: FAILURE.processingFailure,
        message: 'The instance could not be indexed',
        sopClassUid: p?.sopClassUid,
        sopUid: p?.sopUid,
      };
      delete o.stored;
    }
  }
}

function keysOf(outcomes: Outcome[]): string[] {
  return outcomes.flatMap((o) => (o.stored ? [o.stored.blob.key] : []));
}
