import type { JobQueue } from '../jobs';
import type { OcrEngine } from '../ocr';
import type { Clock, Logger } from '../shared';
import type { RepositoryDeps, WriteHook } from '../storage';
import { Repository } from '../storage';
import { CriticalLimits, LabCatalog, RedFlagMatcher } from '../terminology';
import type { DeidProfiles, TextDeidentifier } from '../deid';
import fs from 'node:fs';
import path from 'node:path';
import { createPdfReader } from './pdf';
import { createSummarizer } from './summarize';
import type { SearchParamRegistry } from '../search';
import { createPipelineRunner } from './runner';
import { criticalValuesStage } from './stages/critical-values';
import { deidentifyTextStage } from './stages/deidentify-text';
import { extractTextStage } from './stages/extract-text';
import { redFlagsStage } from './stages/red-flags';
import { structureLabsStage } from './stages/structure-labs';
import { createPipelineTrigger, pipelineQueue } from './trigger';
import type { Job, QueueSpec } from '../jobs';
import type { RunJob, Stage } from './types';
import { PIPELINE_ACCESS } from './types';

export { PIPELINE_ACCESS, PIPELINE_SYSTEM } from './types';

export interface Pipeline {
  trigger: WriteHook;
  queue: QueueSpec;
  run: (job: Job<RunJob>) => Promise<object>;
}

interface PipelineConfig {
  name: string;
  version: string;
  stages: string[];
  deidentify?: { profile?: string };
  /** Whether runs rebuild the patient's summary Composition (default true). */
  summarize?: boolean;
}

const DEFAULT_PIPELINE = path.join(__dirname, '..', '..', 'profiles', 'pipeline', 'default.json');

/**
 * The clinical pipeline: its trigger (a write hook), its queue, and the stages its workers run,
 * in the order its configuration (profiles/pipeline/*.json) lists them.
 */
export async function createPipeline(deps: {
  repo: Repository;
  repoDeps: RepositoryDeps;
  ocr: OcrEngine;
  clock: Clock;
  logger: Logger;
  jobs: JobQueue;
  fhirBase: string;
  text: TextDeidentifier;
  deidProfiles: DeidProfiles;
  configFile?: string;
  expireInSeconds: number;
  registry: SearchParamRegistry;
}): Promise<Pipeline> {
  const queue = pipelineQueue(deps.expireInSeconds);
  const config = JSON.parse(fs.readFileSync(deps.configFile ?? DEFAULT_PIPELINE, 'utf8')) as PipelineConfig;
  const catalog = new LabCatalog();
  const limits = new CriticalLimits();
  const redFlags = new RedFlagMatcher();
  const deidProfile = await deps.deidProfiles.resolve(
    PIPELINE_ACCESS,
    config.deidentify?.profile,
    'pipeline deidentify.profile',
  );
  const critical = criticalValuesStage(limits, catalog);
  const known: Record<string, () => Stage> = {
    'extract-text': () => extractTextStage(deps.fhirBase, catalog, createPdfReader(deps.ocr)),
    'structure-labs': () => structureLabsStage(catalog),
    'deidentify-text': () => deidentifyTextStage(deps.text, deidProfile),
    'critical-values': () => critical,
    'red-flags': () => redFlagsStage(redFlags),
  };
  const stages = config.stages.map((name) => {
    const make = known[name];
    if (!make)
      throw new Error(
        `Pipeline ${config.name}: unknown stage ${name}; known: ${Object.keys(known).join(', ')}`,
      );
    return make();
  });
  return {
    trigger: createPipelineTrigger(
      deps.jobs,
      queue.name,
      (executor, scope) => new Repository(deps.repoDeps, executor, scope),
      () => deps.clock.now(),
    ),
    queue,
    run: createPipelineRunner({
      repo: deps.repo,
      ocr: deps.ocr,
      clock: deps.clock,
      logger: deps.logger,
      stages,
      ...(stages.includes(critical) && { critical }),
      ...(config.summarize !== false && {
        summarize: createSummarizer(deps.registry, deps.fhirBase, deps.clock, redFlags),
      }),
      components: [
        `pipeline ${config.name} ${config.version}`,
        `${limits.name} ${limits.version}`,
        `${redFlags.name} ${redFlags.version}`,
        'loinc-labs 1',
        'tesseract.js eng 4.0.0_best_int',
      ],
    }),
  };
}
