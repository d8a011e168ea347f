import { loadConfig } from './config';
import { buildCore, openStorage } from './core';
import { createLogger, systemClock } from './shared';
import { isEmbedded } from './storage';

/**
 * `npm run worker`: a process that only runs jobs (pipeline runs, asynchronous requests) against
 * PostgreSQL, so workers scale out apart from the API. Embedded PGlite belongs to one process,
 * where `npm start` runs the workers itself.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  if (isEmbedded(config)) throw new Error('npm run worker needs DATABASE_URL (PostgreSQL)');
  const logger = createLogger(config.logLevel);
  const core = await buildCore(config, await openStorage(config), logger, systemClock, config.baseUrl);
  await core.startWorkers();
  logger.info({ concurrency: config.workerConcurrency }, 'worker started');
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'worker stopping');
      core.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
