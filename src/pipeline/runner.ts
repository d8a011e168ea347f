import type {
  AuditEvent,
  DiagnosticReport,
  Encounter,
  Device,
  Observation,
  OperationOutcome,
  Patient,
  Provenance,
  Reference,
  Resource,
  Task,
  TaskOutput,
} from '@medplum/fhirtypes';
import type { Job } from '../jobs';
import type { OcrEngine } from '../ocr';
import type { Clock, Logger } from '../shared';
import { FhirError, stableUuid } from '../shared';
import type { Repository } from '../storage';
import type { SummarizeFn } from './summarize';
import type { RunJob, Stage, StageContext, StageOutput } from './types';
import { PIPELINE_ACCESS, PIPELINE_SYSTEM, PipelineInputError } from './types';

const DEVICE_ID = 'clinical-pipeline';

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
}

interface Pending {
  stage: Stage;
  output: StageOutput;
  id: string;
}

const isLab = (r: Resource | undefined): r is Observation =>
  r?.resourceType === 'Observation' && r.valueQuantity?.value !== undefined;

function ageAt(birthDate: string | undefined, at: string): number | undefined {
  if (!birthDate || !/^\d{4}-\d{2}-\d{2}/.test(birthDate)) return undefined;
  const b = new Date(birthDate.slice(0, 10));
  const t = new Date(at);
  return (t.getTime() - b.getTime()) / (365.2425 * 86_400_000);
}

/**
 * Runs one pipeline job: every stage in order on the source version the Task is about, then
 * writes all outputs, their Provenance, one AuditEvent per stage and the completed Task in one
 * transaction, so a run leaves all of its outputs or none. Output ids derive from the source and
 * the stage, so a retried or repeated run rewrites the same resources (unchanged content makes no
 * new version) and a run for a newer source version makes new versions of them.
 */
export function createPipelineRunner(deps: RunnerDeps): (job: Job<RunJob>) => Promise<object> {
  const { repo } = deps;
  const setTask = async (task: Task, change: Partial<Task>): Promise<Task> =>
    (
      await repo.update<Task>(PIPELINE_ACCESS, {
        ...task,
        ...change,
        lastModified: deps.clock.now().toISOString(),
      })
    ).resource;

  return async (job) => {
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
      const reason =
        err instanceof PipelineInputError
          ? err.message
          : err instanceof FhirError
            ? err.message
            : `${(err as Error).name} after ${job.retryCount + 1} attempts`;
      deps.logger.warn({ task: task.id, final, err: (err as Error).name }, 'pipeline run failed');
      const latest = await repo.read<Task>(PIPELINE_ACCESS, 'Task', job.data.task);
      if (!final) {
        await setTask(latest, {
          businessStatus: { text: `retrying (attempt ${job.retryCount + 1} failed)` },
        });
        throw err;
      }
      const outcome: OperationOutcome = {
        resourceType: 'OperationOutcome',
        id: 'failure',
        issue: [
          {
            severity: 'error',
            code: err instanceof PipelineInputError ? 'invalid' : 'exception',
            diagnostics: reason,
          },
        ],
      };
      await setTask(latest, {
        status: 'failed',
        statusReason: { text: reason },
        businessStatus: { text: `failed in ${latest.businessStatus?.text ?? 'a stage'}` },
        contained: [outcome],
        output: [{ type: { text: 'failure' }, valueReference: { reference: '#failure' } }],
      });
      if (err instanceof PipelineInputError) return { failed: reason };
      throw err;
    }
  };
}

async function runStages(
  deps: RunnerDeps,
  task: Task,
  job: RunJob,
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
  if (isLab(source)) ctx.labs.push({ observation: source, ref: sourceRef });
  for (const r of (source as DiagnosticReport).resourceType === 'DiagnosticReport'
    ? ((source as DiagnosticReport).result ?? [])
    : []) {
    const m = /^Observation\/([A-Za-z0-9.-]{1,64})$/.exec(r.reference ?? '');
    const stored = m ? await repo.readStored(PIPELINE_ACCESS, 'Observation', m[1] ?? '') : undefined;
    const obs = stored?.content ? (JSON.parse(stored.content) as Resource) : undefined;
    if (isLab(obs))
      ctx.labs.push({
        observation: obs,
        ref: { reference: `Observation/${stored?.id ?? ''}/_history/${stored?.versionId ?? ''}` },
      });
  }
  let current = task;
  for (const stage of deps.stages) {
    current = await setTask(current, { businessStatus: { text: stage.name } });
    await stage.run(ctx);
  }
  await repo.transaction(async (tx) => {
    const device = await tx.update<Device>(PIPELINE_ACCESS, {
      resourceType: 'Device',
      id: DEVICE_ID,
      status: 'active',
      deviceName: [{ name: 'fhir-dicomweb-server clinical pipeline', type: 'user-friendly-name' }],
      version: [
        ...deps.stages.map((s) => ({ type: { text: `stage ${s.name}` }, value: s.version })),
        ...deps.components.map((c) => ({ type: { text: 'component' }, value: c })),
      ],
    });
    const agent = { reference: `Device/${DEVICE_ID}/_history/${device.resource.meta?.versionId ?? ''}` };
    const taskOutputs: TaskOutput[] = [];
    const record = async (
      resource: Resource,
      stage: string,
      activity: string,
      sources: Reference[],
    ): Promise<void> => {
      const written = await tx.update(PIPELINE_ACCESS, resource);
      const ref = `${resource.resourceType}/${resource.id ?? ''}`;
      taskOutputs.push({ type: { text: stage }, valueReference: { reference: ref } });
      if (!written.changed && !written.created) return;
      const version = written.resource.meta?.versionId ?? '';
      await tx.update<Provenance>(PIPELINE_ACCESS, {
        resourceType: 'Provenance',
        id: stableUuid(`pipeline-provenance|${ref}|${version}`),
        target: [{ reference: `${ref}/_history/${version}` }],
        recorded: deps.clock.now().toISOString(),
        activity: { coding: [{ system: PIPELINE_SYSTEM, code: stage, display: activity }] },
        agent: [
          {
            type: {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
                  code: 'assembler',
                },
              ],
            },
            who: agent,
          },
        ],
        entity: sources.map((what) => ({ role: 'source' as const, what })),
      });
    };
    for (const p of pending)
      await record(
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
    if (deps.summarize && ctx.patient?.reference) {
      const scopes = [
        { patient: ctx.patient.reference },
        ...(encounter?.reference ? [{ patient: ctx.patient.reference, encounter: encounter.reference }] : []),
      ];
      for (const scope of scopes) {
        const composition = await deps.summarize(tx, scope, sourceTime);
        const inputs = [
          ...new Set(
            (composition.section ?? []).flatMap((s) => (s.entry ?? []).map((e) => e.reference ?? '')),
          ),
        ].map((reference) => ({ reference }));
        await record(composition, 'summarize', 'pipeline summary 1 (TextRank by ts-textrank)', [
          sourceRef,
          ...inputs,
        ]);
      }
    }
    for (const stage of deps.stages)
      await tx.update<AuditEvent>(PIPELINE_ACCESS, {
        resourceType: 'AuditEvent',
        id: stableUuid(`pipeline-audit|${task.id ?? ''}|${stage.name}`),
        type: {
          system: 'http://dicom.nema.org/resources/ontology/DCM',
          code: '110100',
          display: 'Application Activity',
        },
        subtype: [{ system: PIPELINE_SYSTEM, code: stage.name }],
        action: 'C',
        recorded: deps.clock.now().toISOString(),
        outcome: '0',
        agent: [{ who: agent, requestor: false }],
        source: { observer: agent },
        entity: [
          { what: sourceRef },
          { what: { reference: `Task/${task.id ?? ''}` } },
          ...pending
            .filter((p) => p.stage === stage)
            .map((p) => ({ what: { reference: `${p.output.resource.resourceType}/${p.id}` } })),
        ],
      });
    const latest = await tx.read<Task>(PIPELINE_ACCESS, 'Task', task.id ?? '');
    await tx.update<Task>(PIPELINE_ACCESS, {
      ...latest,
      status: 'completed',
      businessStatus: { text: 'completed' },
      lastModified: deps.clock.now().toISOString(),
      output: [...taskOutputs, ...ctx.review.map((r) => ({ type: { text: 'review' }, valueString: r }))],
    });
  });
  return pending.length;
}

/** Outputs belong to the source's encounter too, so an encounter's summary can find them. */
function withEncounter(resource: Resource, encounter: Reference<Encounter> | undefined): Resource {
  if (!encounter?.reference) return resource;
  if (resource.resourceType === 'Observation') return { ...resource, encounter };
  if (resource.resourceType === 'DocumentReference')
    return { ...resource, context: { ...resource.context, encounter: [encounter] } };
  return resource;
}
