import type { Encounter, Patient, Reference, Resource, Task } from '@medplum/fhirtypes';
import type { Job } from '../jobs';
import type { OcrEngine } from '../ocr';
import type { Clock, Logger } from '../shared';
import { stableUuid } from '../shared';
import type { Repository } from '../storage';
import { failedTask, pipelineAgent, RunRecord, summaryScopes, withEncounter } from './commit';
import { runLabs } from './lab-run';
import { ageAt, isLabValue, resultIds } from './sources';
import type { CriticalValuesStage } from './stages/critical-values';
import type { SummarizeFn } from './summarize';
import type { DocumentRunJob, LabRunJob, RunJob, Stage, StageContext, StageOutput } from './types';
import { PIPELINE_ACCESS, PIPELINE_SYSTEM, PipelineInputError } from './types';

export interface RunnerDeps {
  repo: Repository;
  ocr: OcrEngine;
  clock: Clock;
  logger: Logger;
  stages: readonly Stage[];
  /** Tables and models the stages use, named with their versions, for the Device. */
  components: readonly string[];
  /** Rebuilds the patient's (and the encounter's) summary inside the run's transaction. */
  summarize?: SummarizeFn;
  /** The critical-value stage, when configured: lab runs are its check alone. */
  critical?: CriticalValuesStage;
}

interface Pending {
  stage: Stage;
  output: StageOutput;
  id: string;
}

const isLabRun = (job: Job<RunJob>): job is Job<LabRunJob> => 'sources' in job.data;

/**
 * Runs one pipeline job. A lab run is the critical-value check alone (lab-run.ts). A document run
 * takes every stage in order on the source version the Task is about, then
 * writes all outputs, their Provenance, one AuditEvent per stage and the completed Task in one
 * transaction, so a run leaves all of its outputs or none. Output ids derive from the source and
 * the stage, so a retried or repeated run rewrites the same resources (unchanged content makes no
 * new version) and a run for a newer source version makes new versions of them.
 */
export function createPipelineRunner(deps: RunnerDeps): (job: Job<RunJob>) => Promise<object> {
  const { repo, critical } = deps;
  const setTask = async (task: Task, change: Partial<Task>): Promise<Task> =>
    (
      await repo.update<Task>(PIPELINE_ACCESS, {
        ...task,
        ...change,
        lastModified: deps.clock.now().toISOString(),
      })
    ).resource;

  const runDocument = async (job: Job<DocumentRunJob>): Promise<object> => {
    const { source: src } = job.data;
    let task = await repo.read<Task>(PIPELINE_ACCESS, 'Task', job.data.task);
    if (task.status === 'completed' || task.status === 'failed' || task.status === 'cancelled')
      return { skipped: task.status };
    const current = await repo.readStored(PIPELINE_ACCESS, src.type, src.id);
    if (!current || current.deleted || current.versionId > src.versionId) {
      await setTask(task, {
        status: 'cancelled',
        businessStatus: {
          text: current?.deleted ? 'source deleted' : `superseded by version ${current?.versionId ?? ''}`,
        },
      });
      return { skipped: 'superseded' };
    }
    try {
      task = await setTask(task, { status: 'in-progress', businessStatus: { text: 'starting' } });
      const outputs = await runStages(deps, task, job.data, (t, change) => setTask(t, change));
      return { outputs };
    } catch (err) {
      const final = err instanceof PipelineInputError || job.retryCount >= job.retryLimit;
      deps.logger.warn({ task: task.id, final, err: (err as Error).name }, 'pipeline run failed');
      const latest = await repo.read<Task>(PIPELINE_ACCESS, 'Task', job.data.task);
      if (!final) {
        await setTask(latest, {
          businessStatus: { text: `retrying (attempt ${job.retryCount + 1} failed)` },
        });
        throw err;
      }
      const failed = failedTask(err, job, latest.businessStatus?.text ?? 'a stage');
      await setTask(latest, failed);
      if (err instanceof PipelineInputError) return { failed: failed.statusReason?.text };
      throw err;
    }
  };
  return (job) => {
    if (!isLabRun(job)) return runDocument(job as Job<DocumentRunJob>);
    if (!critical) return Promise.resolve({ skipped: 'no critical-values stage' });
    return runLabs({ ...deps, critical }, job);
  };
}

async function runStages(
  deps: RunnerDeps,
  task: Task,
  job: DocumentRunJob,
  setTask: (t: Task, change: Partial<Task>) => Promise<Task>,
): Promise<number> {
  const { repo } = deps;
  const { type, id, versionId } = job.source;
  const source = await repo.vread(PIPELINE_ACCESS, type, id, String(versionId));
  const sourceRef = { reference: `${type}/${id}/_history/${versionId}` };
  // A run started by a new version of the source's Binary names that version as a source too.
  const because = job.because ? [{ reference: job.because }] : [];
  const subject = (source as { subject?: Reference }).subject?.reference;
  const patient = subject?.startsWith('Patient/')
    ? await repo.readStored(PIPELINE_ACCESS, 'Patient', subject.slice(8))
    : undefined;
  const sourceTime = source.meta?.lastUpdated ?? deps.clock.now().toISOString();
  const encounter = (source as { encounter?: Reference<Encounter> }).encounter;
  const pending: Pending[] = [];
  const ctx: StageContext = {
    source,
    sourceRef,
    sourceKey: `${type}/${id}`,
    ...(subject?.startsWith('Patient/') && { patient: { reference: subject } }),
    ...(patient?.content && {
      ageYears: ageAt((JSON.parse(patient.content) as Patient).birthDate, sourceTime),
    }),
    sourceTime,
    texts: [],
    labs: [],
    review: [],
    repo,
    ocr: deps.ocr,
    clock: deps.clock,
    write<T extends Resource>(stage: Stage, output: StageOutput<T>): Promise<Reference<T>> {
      const outputId = stableUuid(`pipeline-output|${stage.name}|${output.key}`);
      pending.push({ stage, output, id: outputId });
      return Promise.resolve({ reference: `${output.resource.resourceType}/${outputId}` });
    },
  };
  if (isLabValue(source)) ctx.labs.push({ observation: source, ref: sourceRef });
  for (const id of resultIds(source)) {
    const stored = await repo.readStored(PIPELINE_ACCESS, 'Observation', id);
    const obs = stored?.content ? (JSON.parse(stored.content) as Resource) : undefined;
    if (stored && isLabValue(obs))
      ctx.labs.push({
        observation: obs,
        ref: { reference: `Observation/${id}/_history/${stored.versionId}` },
      });
  }
  let current = task;
  for (const stage of deps.stages) {
    current = await setTask(current, { businessStatus: { text: stage.name } });
    await stage.run(ctx);
  }
  await repo.transaction(async (tx) => {
    const record = new RunRecord(tx, await pipelineAgent(tx, deps.stages, deps.components), deps.clock);
    for (const p of pending)
      await record.write(
        withEncounter(
          {
            ...p.output.resource,
            id: p.id,
            // What made this version: the output's key, the source version and the stage version.
            identifier: [
              {
                system: PIPELINE_SYSTEM,
                value: `${p.output.key}|${p.stage.name}|${sourceRef.reference}|${p.stage.version}`,
              },
            ],
          } as Resource,
          encounter,
        ),
        p.stage.name,
        `pipeline stage ${p.stage.name} ${p.stage.version}`,
        [sourceRef, ...because, ...(p.output.derivedFrom ?? [])],
      );
    if (deps.summarize && ctx.patient?.reference)
      await record.summarize(
        deps.summarize,
        summaryScopes(ctx.patient.reference, encounter?.reference ? [encounter.reference] : []),
        sourceTime,
        [sourceRef],
      );
    for (const stage of deps.stages)
      await record.audit(stableUuid(`pipeline-audit|${task.id ?? ''}|${stage.name}`), stage.name, [
        sourceRef,
        { reference: `Task/${task.id ?? ''}` },
        ...pending
          .filter((p) => p.stage === stage)
          .map((p) => ({ reference: `${p.output.resource.resourceType}/${p.id}` })),
      ]);
    const latest = await tx.read<Task>(PIPELINE_ACCESS, 'Task', task.id ?? '');
    await tx.update<Task>(PIPELINE_ACCESS, {
      ...latest,
      status: 'completed',
      businessStatus: { text: 'completed' },
      lastModified: deps.clock.now().toISOString(),
      output: [...record.outputs, ...ctx.review.map((r) => ({ type: { text: 'review' }, valueString: r }))],
    });
  });
  return pending.length;
}
