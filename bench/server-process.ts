import { spawn } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../test/helpers/ports';

interface ChildServer {
  url: string;
  stop(): Promise<void>;
}

/** `npm start`'s entry point in a child process on a free loopback port. */
export function startServerProcess(env: Record<string, string>): Promise<ChildServer> {
  return startChild(path.join(__dirname, '..', 'src', 'main.ts'), env, '/readyz');
}

/** bench/floor-server.ts: a receiver that only writes request bodies to disk. */
export function startFloorProcess(): Promise<ChildServer> {
  return startChild(path.join(__dirname, 'floor-server.ts'), {});
}

async function startChild(script: string, env: Record<string, string>, probe = '/'): Promise<ChildServer> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}${probe}`)).status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (i > 300 || child.exitCode !== null) throw new Error(`${path.basename(script)} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
