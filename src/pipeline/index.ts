import type { JobQueue } from '../jobs';
import type { OcrEngine } from '../ocr';
import type { Clock, Logger } from '../shared';
import type { RepositoryDeps, WriteHook } from '../storage';
import { Repository } from '../storage';
import { CriticalLimits, LabCatalog } from '../terminology';
import { createPdfReader } from './pdf';
import { createPipelineRunner } from './runner';
import { criticalValuesStage } from './stages/critical-values';
import { extractTextStage } from './stages/extract-text';
import { structureLabsStage } from './stages/structure-labs';
import { createPipelineTrigger, PIPELINE_QUEUE } from './trigger';
import type { Job, QueueSpec } from '../jobs';
import type { RunJob, Stage } from './types';

export { PIPELINE_ACCESS, PIPELINE_SYSTEM } from './types';
export { CRITICAL_FINDING_PROFILE } from './stages/critical-values';
export { parseLabLines } from './stages/structure-labs';

export interface Pipeline {
  trigger: WriteHook;
  queue: QueueSpec;
  stages: readonly Stage[];
  run: (job: Job<RunJob>) => Promise<object>;
}

/** The clinical pipeline: its trigger (a write hook), its queue, and the stages its workers run. */
export function createPipeline(deps: {
  repo: Repository;
  repoDeps: RepositoryDeps;
  ocr: OcrEngine;
  clock: Clock;
  logger: Logger;
  jobs: JobQueue;
  fhirBase: string;
}): Pipeline {
  const catalog = new LabCatalog();
  const limits = new CriticalLimits();
  const stages: Stage[] = [
    extractTextStage(deps.fhirBase, createPdfReader(deps.ocr)),
    structureLabsStage(catalog),
    criticalValuesStage(limits, catalog),
  ];
  return {
    trigger: createPipelineTrigger(
      deps.jobs,
      (executor, scope) => new Repository(deps.repoDeps, executor, scope),
      () => deps.clock.now(),
    ),
    queue: PIPELINE_QUEUE,
    stages,
    run: createPipelineRunner({
      repo: deps.repo,
      ocr: deps.ocr,
      clock: deps.clock,
      logger: deps.logger,
      stages,
      components: [`${limits.name} ${limits.version}`, 'loinc-labs 1', 'tesseract.js eng 4.0.0_best_int'],
    }),
  };
}
