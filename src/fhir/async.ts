import { randomUUID } from 'node:crypto';
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { Job, QueueSpec } from '../jobs';
import type { Logger } from '../shared';
import { buildOutcome, FhirError, notFound } from '../shared';
import { parsePrefer } from './http-semantics';
import { OPERATIONS } from './operations';
import type { FhirDeps, FhirHandler, FhirRequest, FhirResponse } from './types';

export const FHIR_ASYNC_QUEUE: QueueSpec = {
  name: 'fhir-async',
  retryLimit: 3,
  retryDelay: 5,
  retryBackoff: true,
  expireInSeconds: 60 * 60,
};

/** What a queued request keeps: enough to run it again, nothing from HTTP. */
interface AsyncRequest {
  request: Omit<FhirRequest, 'rawBody' | 'headers'> & { headers: Omit<FhirRequest['headers'], 'prefer'> };
}

interface AsyncOutput {
  status: number;
  body?: Resource;
}

export function wantsAsync(req: FhirRequest): boolean {
  return (
    parsePrefer(req.headers.prefer).respondAsync &&
    req.params?.operation !== undefined &&
    Object.hasOwn(OPERATIONS, req.params.operation) &&
    OPERATIONS[req.params.operation]?.async === true
  );
}

/**
 * FHIR's asynchronous request pattern (R4 async.html): the request is kept as a durable job and
 * answered 202 with a status URL in Content-Location; any node's worker runs it later through the
 * same dispatcher, so a crash or restart does not lose it.
 */
export async function enqueueAsync(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  if (!deps.jobs)
    throw new FhirError(503, { code: 'exception', message: 'Asynchronous requests need the job queue' });
  const { prefer: _prefer, ...headers } = req.headers;
  const data: AsyncRequest = {
    request: {
      method: req.method,
      path: req.path,
      query: req.query,
      headers,
      body: req.body,
      access: req.access,
      ...(req.params && { params: req.params }),
    },
  };
  const id = await deps.jobs.send(FHIR_ASYNC_QUEUE.name, data, { id: randomUUID() });
  return {
    status: 202,
    headers: { 'Content-Location': `${deps.fhirBase}/_async/${id}` },
    body: outcomeOf(`Accepted; poll ${deps.fhirBase}/_async/${id}`),
  };
}

/**
 * The worker side: runs the request and keeps its answer as the job's output. An error answer
 * (4xx, an OperationOutcome) is an outcome too, kept rather than retried; only unexpected
 * failures throw, to be retried by the queue.
 */
export function createAsyncWorker(
  dispatch: FhirHandler,
  deps: FhirDeps,
  logger: Logger,
): (job: Job<AsyncRequest>) => Promise<AsyncOutput> {
  return async (job) => {
    const req: FhirRequest = { ...job.data.request, headers: { ...job.data.request.headers } };
    try {
      const res = await dispatch(req, deps);
      return { status: res.status, ...(res.body && { body: res.body }) };
    } catch (err) {
      if (err instanceof FhirError && err.status < 500) return { status: err.status, body: err.outcome };
      logger.warn({ job: job.id, err: err instanceof Error ? err.name : 'error' }, 'async request failed');
      throw err;
    }
  };
}

async function jobOf(req: FhirRequest, deps: FhirDeps) {
  const id = req.params?.id ?? '';
  const job =
    deps.jobs && /^[0-9a-f-]{36}$/.test(id)
      ? await deps.jobs.get<AsyncRequest>(FHIR_ASYNC_QUEUE.name, id)
      : undefined;
  // Someone else's job is reported as missing, not as forbidden: its id says nothing then.
  if (!job || job.data.request.access.actor !== req.access.actor || job.state === 'cancelled')
    throw notFound(`No asynchronous request ${id}`);
  return job;
}

/**
 * GET _async/{id}: 202 with X-Progress while queued or running; when done, 200 with a
 * batch-response Bundle holding the original request's answer, or that answer's own error
 * status and OperationOutcome; 500 when it failed for good.
 */
export async function asyncStatusInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const job = await jobOf(req, deps);
  if (job.state === 'created' || job.state === 'retry' || job.state === 'active')
    return {
      status: 202,
      headers: {
        'X-Progress':
          job.state === 'active' ? 'running' : job.retryCount > 0 ? `retry ${job.retryCount}` : 'queued',
        'Retry-After': '1',
      },
    };
  if (job.state === 'failed')
    return {
      status: 500,
      body: buildOutcome([
        { code: 'exception', message: `The request failed after ${job.retryCount + 1} attempts` },
      ]),
    };
  const output = job.output as AsyncOutput;
  if (output.status >= 400) return { status: output.status, ...(output.body && { body: output.body }) };
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'batch-response',
    entry: [
      {
        response: { status: String(output.status) },
        ...(output.body && { resource: output.body }),
      },
    ],
  };
  return { status: 200, body: bundle };
}

/** DELETE _async/{id}: cancels a request still waiting or running; polling it then answers 404. */
export async function asyncCancelInteraction(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const job = await jobOf(req, deps);
  if (job.state === 'completed' || job.state === 'failed')
    return { status: 202, body: outcomeOf('The request had already finished; its result is kept') };
  await deps.jobs?.cancel(FHIR_ASYNC_QUEUE.name, job.id);
  return { status: 202, body: outcomeOf('Cancelled') };
}

function outcomeOf(message: string): OperationOutcome {
  return buildOutcome([{ severity: 'information', code: 'informational', message }]);
}
