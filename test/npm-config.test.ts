import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
/** The environment without what `npm test` itself put there. */
const cleanEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)),
);

test('npm commands print no warning about the project configuration', () => {
  const res = spawnSync('npm', ['config', 'list'], { cwd: root, env: cleanEnv, encoding: 'utf8' });
  expect(res.status).toBe(0);
  expect(res.stderr).not.toMatch(/Unknown (project|user|env) config/);
});

test('onnxruntime-node never fetches its CUDA libraries: denied to npm 11, skipped where npm 10 installs', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    allowScripts?: Record<string, boolean>;
  };
  expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
  const skip = /^(export |ENV )ONNXRUNTIME_NODE_INSTALL=skip$/m;
  for (const file of ['.ci/run', 'docker/Dockerfile', 'README.md'])
    expect([file, skip.test(fs.readFileSync(path.join(root, file), 'utf8'))]).toEqual([file, true]);
  // The installed version still reads that variable: its install script stops before any download.
  const script = path.join(root, 'node_modules/onnxruntime-node/script/install.js');
  execFileSync(process.execPath, [script], {
    env: { ...cleanEnv, ONNXRUNTIME_NODE_INSTALL: 'skip' },
    stdio: 'pipe',
  });
});
