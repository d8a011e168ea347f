import type { Observation, Patient, Reference, Resource, Task } from '@medplum/fhirtypes';
import type { Job } from '../jobs';
import type { Clock } from '../shared';
import { stableUuid } from '../shared';
import type { Repository } from '../storage';
import { failedTask, pipelineAgent, RunRecord, runTask, summaryScopes, withEncounter } from './commit';
import { ageAt, isLabValue, resultIds } from './sources';
import type { CriticalValuesStage, LabCheck } from './stages/critical-values';
import type { SummarizeFn } from './summarize';
import { listedAsAbnormal } from './summarize';
import type { LabRunJob, SourceVersion, Stage } from './types';
import { PIPELINE_ACCESS, PIPELINE_SYSTEM } from './types';

export interface LabRunDeps {
  repo: Repository;
  clock: Clock;
  /** Every configured stage and component, for the Device the outputs name. */
  stages: readonly Stage[];
  components: readonly string[];
  critical: CriticalValuesStage;
  summarize?: SummarizeFn;
}

interface Lab {
  observation: Observation;
  ref: Reference<Observation>;
}

interface Current {
  versionId: number;
  deleted: boolean;
  lastUpdated: string;
  resource?: Resource;
}

export const labRunTaskId = (run: string): string => stableUuid(`pipeline-task|labs|${run}`);
const labRunAuditId = (run: string): string => stableUuid(`pipeline-audit|labs|${run}`);
const versionRef = (s: SourceVersion): string => `${s.type}/${s.id}/_history/${s.versionId}`;

/**
 * A lab run's Task names every source version, as an identifier (so `Task?identifier=` finds the
 * run of any value) and as an input; `focus` (0..1) only when the run has a single source.
 */
function labTask(id: string, sources: readonly SourceVersion[], patient: string | undefined): Task {
  const refs = sources.map(versionRef);
  return {
    ...runTask(id, patient),
    identifier: refs.map((value) => ({ system: PIPELINE_SYSTEM, value })),
    ...(refs.length === 1 && refs[0] && { focus: { reference: refs[0] } }),
    input: refs.map((reference) => ({ type: { text: 'source' }, valueReference: { reference } })),
  };
}

/** The current rows of many resources in one query ("Type/id" → row). */
async function readCurrent(
  repo: Repository,
  keys: { type: string; id: string }[],
): Promise<Map<string, Current>> {
  const found = new Map<string, Current>();
  if (keys.length === 0) return found;
  const rows: {
    resource_type: string;
    id: string;
    version_id: number;
    deleted: boolean;
    last_updated: Date | string;
    content: string | null;
  }[] = await (
    await repo.reader()
  )('resource')
    .whereIn(
      ['resource_type', 'id'],
      keys.map((k) => [k.type, k.id]),
    )
    .select('resource_type', 'id', 'version_id', 'deleted', 'last_updated', 'content');
  for (const r of rows)
    found.set(`${r.resource_type}/${r.id}`, {
      versionId: r.version_id,
      deleted: r.deleted,
      lastUpdated: new Date(r.last_updated).toISOString(),
      ...(r.content !== null && { resource: JSON.parse(r.content) as Resource }),
    });
  return found;
}

/**
 * Runs the lab values one transaction wrote for one patient: each still-current value (and each
 * result of a report of results only) against the critical-value table. A Task is written only
 * when a value is critical or needs review, and the summary is rebuilt only when what it lists
 * may have changed (a finding, an abnormal value, a new version of a value), once per patient and
 * encounter. Findings, their Provenance, the summaries, the Task and one AuditEvent naming every
 * value checked are written in one transaction; that AuditEvent marks the run as done.
 */
export async function runLabs(deps: LabRunDeps, job: Job<LabRunJob>): Promise<object> {
  try {
    return await checkLabs(deps, job.data);
  } catch (err) {
    if (job.retryCount < job.retryLimit) throw err;
    const { run, patient, sources } = job.data;
    await deps.repo.update<Task>(PIPELINE_ACCESS, {
      ...labTask(labRunTaskId(run), sources, patient),
      authoredOn: deps.clock.now().toISOString(),
      lastModified: deps.clock.now().toISOString(),
      ...failedTask(err, job, 'critical-values'),
    });
    throw err;
  }
}

async function checkLabs(deps: LabRunDeps, job: LabRunJob): Promise<object> {
  const { repo, critical } = deps;
  const marker = await repo.readStored(PIPELINE_ACCESS, 'AuditEvent', labRunAuditId(job.run));
  if (marker && !marker.deleted) return { skipped: 'done' };
  const current = await readCurrent(repo, job.sources);
  // A source with a newer version (or deleted) is left to the run of that version.
  const live = job.sources.flatMap((source) => {
    const c = current.get(`${source.type}/${source.id}`);
    return c?.resource && !c.deleted && c.versionId === source.versionId ? [{ source, ...c }] : [];
  });
  if (live.length === 0) return { skipped: 'superseded' };
  const labs = new Map<string, Lab>();
  for (const { source, resource } of live)
    if (isLabValue(resource))
      labs.set(`Observation/${source.id}`, { observation: resource, ref: { reference: versionRef(source) } });
  const results = live
    .flatMap(({ resource }) => resultIds(resource))
    .filter((id) => !labs.has(`Observation/${id}`))
    .map((id) => ({ type: 'Observation', id }));
  for (const [key, c] of await readCurrent(repo, results))
    if (!c.deleted && isLabValue(c.resource))
      labs.set(key, { observation: c.resource, ref: { reference: `${key}/_history/${c.versionId}` } });

  const at = live.reduce((latest, s) => (s.lastUpdated > latest ? s.lastUpdated : latest), '');
  const patientRow = job.patient
    ? await repo.readStored(PIPELINE_ACCESS, 'Patient', job.patient.slice(8))
    : undefined;
  const ageYears = patientRow?.content
    ? ageAt((JSON.parse(patientRow.content) as Patient).birthDate, at)
    : undefined;
  const patient = job.patient ? { reference: job.patient } : undefined;
  const checked = [...labs.values()].map((lab) => ({
    lab,
    result: critical.check(lab, {
      ...(patient && { patient }),
      ...(ageYears !== undefined && { ageYears }),
      at,
    }),
  }));
  const findings = checked.filter(
    (c): c is { lab: Lab; result: Required<Pick<LabCheck, 'finding'>> } => !!c.result.finding,
  );
  const reviews = checked.flatMap((c) => (c.result.review ? [c.result.review] : []));
  // What the summary lists can change only through these: a finding, an abnormal value, or a
  // new version of a value (its earlier version may have been listed).
  const relevant = checked.filter(
    ({ lab, result }) =>
      result.finding || listedAsAbnormal(lab.observation) || !lab.ref.reference?.endsWith('/_history/1'),
  );

  await repo.transaction(async (tx) => {
    const record = new RunRecord(tx, await pipelineAgent(tx, deps.stages, deps.components), deps.clock);
    const written: Reference[] = [];
    for (const { lab, result } of findings) {
      const id = stableUuid(`pipeline-output|${critical.name}|${result.finding.key}`);
      await record.write(
        withEncounter(
          {
            ...result.finding.resource,
            id,
            identifier: [
              {
                system: PIPELINE_SYSTEM,
                value: `${result.finding.key}|${critical.name}|${lab.ref.reference ?? ''}|${critical.version}`,
              },
            ],
          },
          lab.observation.encounter,
        ),
        critical.name,
        `pipeline stage ${critical.name} ${critical.version}`,
        [lab.ref],
      );
      written.push({ reference: `Observation/${id}` });
    }
    if (deps.summarize && job.patient && relevant.length > 0)
      await record.summarize(
        deps.summarize,
        summaryScopes(
          job.patient,
          relevant.flatMap(({ lab }) =>
            lab.observation.encounter?.reference ? [lab.observation.encounter.reference] : [],
          ),
        ),
        at,
        relevant.map(({ lab }) => lab.ref),
      );
    const task = findings.length > 0 || reviews.length > 0 ? labRunTaskId(job.run) : undefined;
    if (task)
      await tx.update<Task>(PIPELINE_ACCESS, {
        ...labTask(
          task,
          live.map(({ source }) => source),
          job.patient,
        ),
        status: 'completed',
        businessStatus: { text: 'completed' },
        authoredOn: at,
        lastModified: deps.clock.now().toISOString(),
        output: [...record.outputs, ...reviews.map((r) => ({ type: { text: 'review' }, valueString: r }))],
      });
    // Every source and every value checked (results of reports are values of their own).
    const read = new Set([
      ...live.map(({ source }) => versionRef(source)),
      ...[...labs.values()].map((l) => l.ref.reference ?? ''),
    ]);
    await record.audit(labRunAuditId(job.run), critical.name, [
      ...[...read].map((reference) => ({ reference })),
      ...(task ? [{ reference: `Task/${task}` }] : []),
      ...written,
    ]);
  });
  return { checked: labs.size, findings: findings.length };
}
