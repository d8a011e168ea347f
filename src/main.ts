import cluster from 'node:cluster';
import type { Config } from './config';
import { loadConfig } from './config';
import { startServer } from './server';
import { createLogger } from './shared';
import { isEmbedded } from './storage';

async function serve(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const server = await startServer(config, logger);
  const stop = (signal: string): void => {
    logger.info({ signal }, 'signal received');
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => {
    stop('SIGTERM');
  });
  process.once('SIGINT', () => {
    stop('SIGINT');
  });
}

/** The primary of API_PROCESSES > 1: forks the API processes, replaces crashed ones, passes signals on. */
function supervise(config: Config): void {
  const logger = createLogger(config.logLevel);
  let stopping = false;
  const fork = (): void => {
    cluster.fork();
  };
  for (let i = 0; i < config.apiProcesses; i++) fork();
  cluster.on('exit', (worker, code) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.error({ workerPid: worker.process.pid, code }, 'API process exited; starting another');
    fork();
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
    });
  }
}

function main(): void {
  const config = loadConfig();
  if (config.apiProcesses > 1 && isEmbedded(config))
    throw new Error(
      'API_PROCESSES > 1 needs DATABASE_URL (PostgreSQL); embedded PGlite belongs to one process',
    );
  if (config.apiProcesses > 1 && cluster.isPrimary) supervise(config);
  else
    serve(config).catch((err: unknown) => {
      // Startup failures (bad config, unreachable database) are reported without data.
      process.stderr.write(`startup failed: ${(err as Error).message}\n`);
      process.exit(1);
    });
}

try {
  main();
} catch (err) {
  process.stderr.write(`startup failed: ${(err as Error).message}\n`);
  process.exit(1);
}
