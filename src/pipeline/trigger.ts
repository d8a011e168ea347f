import type { Resource, Task } from '@medplum/fhirtypes';
import type { JobQueue, QueueSpec } from '../jobs';
import { stableUuid } from '../shared';
import type { Executor, Repository, TxScope, WriteEvent, WriteHook } from '../storage';
import { findReferrers } from '../storage';
import type { RunJob } from './types';
import { PIPELINE_ACCESS, PIPELINE_SYSTEM } from './types';

/** The queue; a worker killed mid-run leaves its job active until `expireInSeconds`, then it runs again. */
export function pipelineQueue(expireInSeconds: number): QueueSpec {
  return { name: 'clinical-pipeline', retryLimit: 3, retryDelay: 2, retryBackoff: true, expireInSeconds };
}

/** A source written in this transaction, or a Binary whose new version reruns its referrers. */
type Pending = (RunJob['source'] & { patient?: string }) | { binary: string; versionId: number };

/** Whether a write is one the pipeline works on: reports, documents, lab values. */
export function isTrigger(resource: Resource | undefined): boolean {
  switch (resource?.resourceType) {
    case 'DiagnosticReport': {
      const r = resource;
      return (r.presentedForm?.length ?? 0) > 0 || (r.result?.length ?? 0) > 0;
    }
    case 'DocumentReference':
      return (resource.content?.length ?? 0) > 0;
    case 'Observation':
      return resource.valueQuantity?.value !== undefined;
    default:
      return false;
  }
}

function patientOf(resource: Resource): string | undefined {
  const r = resource as { subject?: { reference?: string } };
  const ref = r.subject?.reference;
  return ref?.startsWith('Patient/') ? ref : undefined;
}

export function taskId(type: string, id: string, versionId: number, because?: string): string {
  return stableUuid(`pipeline-task|${type}/${id}|${versionId}${because ? `|${because}` : ''}`);
}

/**
 * The trigger: every write of a source adds, in the same transaction, a requested Task for the
 * run and its job, so a committed write always has its run and a rolled-back one never does.
 * The pipeline's own writes (actor "pipeline") are not sources.
 */
export function createPipelineTrigger(
  jobs: JobQueue,
  queue: string,
  repoFor: (executor: Executor, scope: TxScope) => Repository,
  now: () => Date,
): WriteHook {
  return {
    afterWrite(event: WriteEvent): Promise<void> {
      if (event.kind === 'delete' || event.access.actor === PIPELINE_ACCESS.actor) return Promise.resolve();
      const binaryUpdate = event.kind === 'update' && event.resourceType === 'Binary';
      if (!binaryUpdate && !isTrigger(event.resource)) return Promise.resolve();
      const sources = event.scope.bag('pipeline-sources', () => new Map<string, Pending>());
      const first = sources.size === 0;
      // A transaction writing the same resource twice runs the pipeline once, on the last version.
      if (binaryUpdate) sources.set(`Binary/${event.id}`, { binary: event.id, versionId: event.versionId });
      else
        sources.set(`${event.resourceType}/${event.id}`, {
          type: event.resourceType,
          id: event.id,
          versionId: event.versionId,
          ...(event.resource && { patient: patientOf(event.resource) }),
        });
      if (!first) return Promise.resolve();
      event.scope.beforeCommit(async () => {
        const repo = repoFor(event.executor, event.scope);
        const runs: { source: RunJob['source']; because?: string; patient?: string }[] = [];
        for (const [key, s] of sources) {
          if (!('binary' in s)) {
            const { patient, ...source } = s;
            runs.push({ source, ...(patient && { patient }) });
            continue;
          }
          // A new version of a Binary reruns the reports and documents whose attachment it is.
          for (const ref of await findReferrers(await repo.reader(), 'Binary', s.binary, 100)) {
            const [type = '', id = ''] = ref.split('/');
            const stored = await repo.readStored(PIPELINE_ACCESS, type, id);
            const referrer = stored?.content ? (JSON.parse(stored.content) as Resource) : undefined;
            if (!stored || !referrer || !isTrigger(referrer) || sources.has(ref)) continue;
            const patient = patientOf(referrer);
            runs.push({
              source: { type, id, versionId: stored.versionId },
              because: `${key}/_history/${s.versionId}`,
              ...(patient && { patient }),
            });
          }
        }
        for (const { source, because, patient } of runs) {
          const id = taskId(source.type, source.id, source.versionId, because);
          const task: Task = {
            resourceType: 'Task',
            id,
            identifier: [
              {
                system: PIPELINE_SYSTEM,
                value: `${source.type}/${source.id}/_history/${source.versionId}${because ? `;${because}` : ''}`,
              },
            ],
            ...(because && {
              input: [{ type: { text: 'changed attachment' }, valueReference: { reference: because } }],
            }),
            status: 'requested',
            intent: 'order',
            code: {
              coding: [
                { system: PIPELINE_SYSTEM, code: 'clinical-pipeline', display: 'Clinical pipeline run' },
              ],
            },
            focus: { reference: `${source.type}/${source.id}/_history/${source.versionId}` },
            ...(patient && { for: { reference: patient } }),
            authoredOn: now().toISOString(),
            businessStatus: { text: 'queued' },
          };
          await repo.update(PIPELINE_ACCESS, task);
          const job: RunJob = { task: id, source, ...(because && { because }) };
          await jobs.send(queue, job, { tx: event.executor });
        }
      });
      return Promise.resolve();
    },
  };
}
