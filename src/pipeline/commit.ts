import type {
  AuditEvent,
  Device,
  Encounter,
  OperationOutcome,
  Provenance,
  Reference,
  Resource,
  Task,
  TaskOutput,
} from '@medplum/fhirtypes';
import type { Job } from '../jobs';
import type { Clock } from '../shared';
import { FhirError, stableUuid } from '../shared';
import type { Repository } from '../storage';
import type { SummarizeFn, SummaryScope } from './summarize';
import type { Stage } from './types';
import { PIPELINE_ACCESS, PIPELINE_SYSTEM, PipelineInputError } from './types';

const DEVICE_ID = 'clinical-pipeline';

/**
 * The `Device/clinical-pipeline` version describing these stages and components, as a reference
 * for Provenance and AuditEvent agents. It is written only when its description changed: an
 * unchanged one is read without a row lock, so concurrent runs do not queue behind each other.
 */
export async function pipelineAgent(
  tx: Repository,
  stages: readonly Stage[],
  components: readonly string[],
): Promise<Reference<Device>> {
  const device: Device = {
    resourceType: 'Device',
    id: DEVICE_ID,
    status: 'active',
    deviceName: [{ name: 'fhir-dicomweb-server clinical pipeline', type: 'user-friendly-name' }],
    version: [
      ...stages.map((s) => ({ type: { text: `stage ${s.name}` }, value: s.version })),
      ...components.map((c) => ({ type: { text: 'component' }, value: c })),
    ],
  };
  const stored = await tx.readStored(PIPELINE_ACCESS, 'Device', DEVICE_ID);
  const current = stored?.content ? (JSON.parse(stored.content) as Device) : undefined;
  const same =
    current !== undefined &&
    JSON.stringify([current.status, current.deviceName, current.version]) ===
      JSON.stringify([device.status, device.deviceName, device.version]);
  const versionId = same
    ? String(stored?.versionId ?? '')
    : ((await tx.update<Device>(PIPELINE_ACCESS, device)).resource.meta?.versionId ?? '');
  return { reference: `Device/${DEVICE_ID}/_history/${versionId}` };
}

/**
 * What one run writes in its final transaction: outputs, each with a Provenance when it is new or
 * changed (an output rewritten with the same content makes no version and no Provenance, so a
 * repeated run writes nothing twice), and the Task outputs naming them.
 */
export class RunRecord {
  readonly outputs: TaskOutput[] = [];

  constructor(
    readonly tx: Repository,
    readonly agent: Reference<Device>,
    private readonly clock: Clock,
  ) {}

  async write(resource: Resource, stage: string, activity: string, sources: Reference[]): Promise<void> {
    const written = await this.tx.update(PIPELINE_ACCESS, resource);
    const ref = `${resource.resourceType}/${resource.id ?? ''}`;
    this.outputs.push({ type: { text: stage }, valueReference: { reference: ref } });
    if (!written.changed && !written.created) return;
    const version = written.resource.meta?.versionId ?? '';
    const id = stableUuid(`pipeline-provenance|${ref}|${version}`);
    // The output version was made by this transaction, so its Provenance cannot exist yet.
    await this.tx.create<Provenance>(
      PIPELINE_ACCESS,
      {
        resourceType: 'Provenance',
        target: [{ reference: `${ref}/_history/${version}` }],
        recorded: this.clock.now().toISOString(),
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
            who: this.agent,
          },
        ],
        entity: sources.map((what) => ({ role: 'source' as const, what })),
      },
      { id, idIsFresh: true },
    );
  }

  /** Rebuilds each summary once, citing `sources` and every entry it lists. */
  async summarize(
    summarize: SummarizeFn,
    scopes: readonly SummaryScope[],
    date: string,
    sources: Reference[],
  ): Promise<void> {
    for (const composition of await summarize(this.tx, scopes, date)) {
      const inputs = [
        ...new Set((composition.section ?? []).flatMap((s) => (s.entry ?? []).map((e) => e.reference ?? ''))),
      ].map((reference) => ({ reference }));
      await this.write(composition, 'summarize', 'pipeline summary 1 (TextRank by ts-textrank)', [
        ...sources,
        ...inputs,
      ]);
    }
  }

  /** The AuditEvent of one stage of a run, naming what it read and what it wrote. */
  async audit(id: string, stage: string, entities: Reference[]): Promise<void> {
    await this.tx.update<AuditEvent>(PIPELINE_ACCESS, {
      resourceType: 'AuditEvent',
      id,
      type: {
        system: 'http://dicom.nema.org/resources/ontology/DCM',
        code: '110100',
        display: 'Application Activity',
      },
      subtype: [{ system: PIPELINE_SYSTEM, code: stage }],
      action: 'C',
      recorded: this.clock.now().toISOString(),
      outcome: '0',
      agent: [{ who: this.agent, requestor: false }],
      source: { observer: this.agent },
      entity: entities.map((what) => ({ what })),
    });
  }
}

/** The patient's summary and, for each encounter given, that encounter's. */
export function summaryScopes(patient: string, encounters: Iterable<string>): SummaryScope[] {
  return [{ patient }, ...[...new Set(encounters)].map((encounter) => ({ patient, encounter }))];
}

/** What every run's Task has: its code and the patient it is for. */
export function runTask(id: string, patient: string | undefined): Task {
  return {
    resourceType: 'Task',
    id,
    status: 'requested',
    intent: 'order',
    code: {
      coding: [{ system: PIPELINE_SYSTEM, code: 'clinical-pipeline', display: 'Clinical pipeline run' }],
    },
    ...(patient && { for: { reference: patient } }),
  };
}

/**
 * A failed run's Task: the reason (the input's fault, or what kept failing after every retry),
 * also as a contained OperationOutcome.
 */
export function failedTask(err: unknown, job: Job<unknown>, where: string): Partial<Task> {
  const input = err instanceof PipelineInputError;
  const reason =
    err instanceof PipelineInputError || err instanceof FhirError
      ? err.message
      : `${(err as Error).name} after ${job.retryCount + 1} attempts`;
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    id: 'failure',
    issue: [{ severity: 'error', code: input ? 'invalid' : 'exception', diagnostics: reason }],
  };
  return {
    status: 'failed',
    statusReason: { text: reason },
    businessStatus: { text: `failed in ${where}` },
    contained: [outcome],
    output: [{ type: { text: 'failure' }, valueReference: { reference: '#failure' } }],
  };
}

/** Outputs belong to the source's encounter too, so an encounter's summary can find them. */
export function withEncounter(resource: Resource, encounter: Reference<Encounter> | undefined): Resource {
  if (!encounter?.reference) return resource;
  if (resource.resourceType === 'Observation') return { ...resource, encounter };
  if (resource.resourceType === 'DocumentReference')
    return { ...resource, context: { ...resource.context, encounter: [encounter] } };
  return resource;
}
