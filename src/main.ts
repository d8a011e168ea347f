import { loadConfig } from './config';
import { startServer } from './server';
import { createLogger } from './shared';

async function main(): Promise<void> {
  const config = loadConfig();
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

main().catch((err: unknown) => {
  // Startup failures (bad config, unreachable database) are reported without data.
  process.stderr.write(`startup failed: ${(err as Error).message}\n`);
  process.exit(1);
});
