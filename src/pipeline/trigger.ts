import type { Resource } from '@medplum/fhirtypes';
import type { JobQueue, QueueSpec } from '../jobs';
import { stableUuid } from '../shared';
import type { Executor, Repository, TxScope, WriteEvent, WriteHook } from '../storage';
import { findReferrers } from '../storage';
import { runTask } from './commit';
import { isLabValue, patientOf, resultIds } from './sources';
import type { DocumentRunJob, LabRunJob, SourceVersion } from './types';
import { PIPELINE_ACCESS, PIPELINE_SYSTEM } from './types';

/** The queue; a worker killed mid-run leaves its job active until `expireInSeconds`, then it runs again. */
export function pipelineQueue(expireInSeconds: number): QueueSpec {
  return { name: 'clinical-pipeline', retryLimit: 3, retryDelay: 2, retryBackoff: true, expireInSeconds };
}

type Kind = 'document' | 'lab';

/** A source written in this transaction, or a Binary whose new version reruns its referrers. */
type Pending =
  | { kind: Kind; source: SourceVersion; patient?: string; results: string[] }
  | { kind: 'binary'; binary: string; versionId: number };

/**
 * Which run a write needs: reports and documents with attachments go through every stage
 * (`document`); lab values and reports of results only need the critical-value check (`lab`).
 */
export function triggerKind(resource: Resource | undefined): Kind | undefined {
  switch (resource?.resourceType) {
    case 'DiagnosticReport':
      if ((resource.presentedForm?.length ?? 0) > 0) return 'document';
      return (resource.result?.length ?? 0) > 0 ? 'lab' : undefined;
    case 'DocumentReference':
      return (resource.content?.length ?? 0) > 0 ? 'document' : undefined;
    default:
      return isLabValue(resource) ? 'lab' : undefined;
  }
}

/** A lab run's id: from its source versions, each written once, so it names this run and no other. */
export function labRunId(sources: readonly SourceVersion[]): string {
  const refs = sources.map((s) => `${s.type}/${s.id}/_history/${s.versionId}`).sort();
  return stableUuid(`pipeline-run|${refs.join(',')}`);
}

export function taskId(type: string, id: string, versionId: number, because?: string): string {
  return stableUuid(`pipeline-task|${type}/${id}|${versionId}${because ? `|${because}` : ''}`);
}

/**
 * The trigger adds, in the writing transaction, the jobs of its runs, so a committed write always
 * has its runs and a rolled-back one never does:
 * - each report or document with attachments: its own run, with a requested Task made now;
 * - the lab values (and reports of results only) of each patient: one run for all of them, with
 *   no Task until it finds something (a value that is a result of a report run in this
 *   transaction is checked by that run instead).
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
      const kind = triggerKind(event.resource);
      if (!binaryUpdate && !kind) return Promise.resolve();
      const sources = event.scope.bag('pipeline-sources', () => new Map<string, Pending>());
      const first = sources.size === 0;
      // A transaction writing the same resource twice runs the pipeline once, on the last version.
      if (binaryUpdate)
        sources.set(`Binary/${event.id}`, { kind: 'binary', binary: event.id, versionId: event.versionId });
      else if (kind && event.resource) {
        const patient = patientOf(event.resource);
        sources.set(`${event.resourceType}/${event.id}`, {
          kind,
          source: { type: event.resourceType, id: event.id, versionId: event.versionId },
          ...(patient && { patient }),
          results: kind === 'document' ? resultIds(event.resource) : [],
        });
      }
      if (!first) return Promise.resolve();
      event.scope.beforeCommit(async () => {
        const repo = repoFor(event.executor, event.scope);
        const start = (run: DocumentRun): Promise<void> =>
          startDocumentRun(repo, event.executor, jobs, queue, now(), run);
        const checkedByReports = new Set<string>();
        const labs = new Map<string, SourceVersion[]>();
        for (const s of sources.values()) {
          if (s.kind === 'document') {
            for (const id of s.results) checkedByReports.add(`Observation/${id}`);
            await start({ source: s.source, ...(s.patient && { patient: s.patient }) });
          } else if (s.kind === 'binary') {
            for (const run of await binaryReferrers(repo, s, sources)) await start(run);
          }
        }
        for (const [key, s] of sources) {
          if (s.kind !== 'lab' || checkedByReports.has(key)) continue;
          const group = labs.get(s.patient ?? '');
          if (group) group.push(s.source);
          else labs.set(s.patient ?? '', [s.source]);
        }
        for (const [patient, group] of labs) {
          const job: LabRunJob = {
            run: labRunId(group),
            ...(patient && { patient }),
            sources: group,
          };
          await jobs.send(queue, job, { tx: event.executor });
        }
      });
      return Promise.resolve();
    },
  };
}

interface DocumentRun {
  source: SourceVersion;
  because?: string;
  patient?: string;
}

/** A new version of a Binary reruns the reports and documents whose attachment it is. */
async function binaryReferrers(
  repo: Repository,
  { binary, versionId }: { binary: string; versionId: number },
  sources: Map<string, Pending>,
): Promise<DocumentRun[]> {
  const runs: DocumentRun[] = [];
  for (const ref of await findReferrers(await repo.reader(), 'Binary', binary, 100)) {
    const [type = '', id = ''] = ref.split('/');
    const stored = await repo.readStored(PIPELINE_ACCESS, type, id);
    const referrer = stored?.content ? (JSON.parse(stored.content) as Resource) : undefined;
    if (!stored || !referrer || triggerKind(referrer) !== 'document' || sources.has(ref)) continue;
    const patient = patientOf(referrer);
    runs.push({
      source: { type, id, versionId: stored.versionId },
      because: `Binary/${binary}/_history/${versionId}`,
      ...(patient && { patient }),
    });
  }
  return runs;
}

/** A document run's requested Task and its job. */
async function startDocumentRun(
  repo: Repository,
  tx: Executor,
  jobs: JobQueue,
  queue: string,
  at: Date,
  { source, because, patient }: DocumentRun,
): Promise<void> {
  const id = taskId(source.type, source.id, source.versionId, because);
  const focus = `${source.type}/${source.id}/_history/${source.versionId}`;
  await repo.update(PIPELINE_ACCESS, {
    ...runTask(id, patient),
    identifier: [{ system: PIPELINE_SYSTEM, value: `${focus}${because ? `;${because}` : ''}` }],
    ...(because && {
      input: [{ type: { text: 'changed attachment' }, valueReference: { reference: because } }],
    }),
    focus: { reference: focus },
    authoredOn: at.toISOString(),
    businessStatus: { text: 'queued' },
  });
  const job: DocumentRunJob = { task: id, source, ...(because && { because }) };
  await jobs.send(queue, job, { tx });
}
