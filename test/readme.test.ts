import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestServer } from './helpers/server';
import { startTestServer } from './helpers/server';

/**
 * The README's shell examples, run in order in one bash session against a fresh server, as a
 * newcomer pastes them: fenced `sh` blocks run, `sh no-test` blocks are skipped, `js file=NAME`
 * blocks are written to NAME first. The README's base URL is replaced by the test server's.
 */
const ROOT = path.resolve(__dirname, '..');
const README_BASE = 'http://127.0.0.1:8080';

/**
 * Variables the blocks expect from the reader's environment rather than define themselves
 * (none yet; a bearer token once the server asks for one).
 */
async function readerEnvironment(_server: TestServer): Promise<Record<string, string>> {
  return Promise.resolve({});
}

interface Block {
  lang: string;
  attrs: string[];
  code: string;
  line: number;
}

function fencedBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  for (const m of markdown.matchAll(/^```(\S*)([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm)) {
    out.push({
      lang: m[1] ?? '',
      attrs: (m[2] ?? '').trim().split(/\s+/).filter(Boolean),
      code: m[3] ?? '',
      line: markdown.slice(0, m.index).split('\n').length,
    });
  }
  return out;
}

let server: TestServer;
let target: TestServer;
let work: string;
beforeAll(async () => {
  target = await startTestServer({ pipeline: false });
  server = await startTestServer({
    deidKey: { id: 'readme', secret: 'change-me-to-a-long-secret' },
    deidTargets: { research: target.fhirBase },
    jobPollSeconds: 0.5,
  });
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'readme-'));
});
afterAll(async () => {
  await server.close();
  await target.close();
  fs.rmSync(work, { recursive: true, force: true });
});

test('the README examples run in order against a fresh server, each answering as the README says', async () => {
  const blocks = fencedBlocks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  const run = blocks.filter((b) => b.lang === 'sh' && !b.attrs.includes('no-test'));
  // The untested set stays small: starting the server, the suite, Orthanc, and (until the suite
  // runs with tokens, which comes next) the Security section's six blocks.
  expect(blocks.filter((b) => b.attrs.includes('no-test')).length).toBeLessThanOrEqual(10);
  expect(run.length).toBeGreaterThan(10);
  const local = (code: string): string => code.split(README_BASE).join(server.url);
  for (const b of blocks) {
    const file = b.attrs.find((a) => a.startsWith('file='))?.slice(5);
    if (file) fs.writeFileSync(path.join(work, file), local(b.code));
  }
  // Every curl reports its status on stderr and ends its output with a newline, so answers can
  // be told apart; the README's own curl commands stay plain.
  const script = [
    'set -eo pipefail',
    `curl() { command curl -w '%{stderr}@@status %{http_code}\\n%{stdout}\\n' "$@"; }`,
    ...run.map((b, i) => `echo "@@block ${i}" >&2\n${local(b.code)}\necho "@@B \${B:-}" >&2`),
  ].join('\n');
  // Asynchronously: the server answering the examples runs in this process.
  const env = {
    PATH: process.env.PATH,
    HOME: work,
    // The examples run in the project directory, where node finds the project's packages.
    NODE_PATH: path.join(ROOT, 'node_modules'),
    ...(await readerEnvironment(server)),
  };
  const res = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd: work, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('close', (status) => {
      resolve({ status, stdout, stderr });
    });
  });
  const stderr = res.stderr;
  const perBlock = stderr.split(/^@@block (\d+)\n/m).slice(1);
  const ran = perBlock.length / 2;
  const failedAt = run[ran - 1];
  expect([
    res.status,
    res.status === 0 ? '' : `README line ${failedAt?.line ?? '?'}: ${stderr.slice(-2000)}`,
  ]).toEqual([0, '']);
  expect(ran).toBe(run.length);

  const bases = new Set<string>();
  for (let i = 0; i < run.length; i++) {
    const out = perBlock[2 * i + 1] ?? '';
    const block = run[i] as Block;
    // A failing status only where the README says so (`# 409`).
    const failing = [...out.matchAll(/^@@status (\d{3})$/gm)]
      .map((m) => m[1] ?? '')
      .filter((s) => s >= '400');
    const announced = [...block.code.matchAll(/#\s+([45]\d\d)\b/g)].map((m) => m[1] ?? '');
    expect([`README line ${block.line}`, failing.sort()]).toEqual([
      `README line ${block.line}`,
      announced.sort(),
    ]);
    const b = /^@@B (.*)$/m.exec(out)?.[1] ?? '';
    if (b) bases.add(b);
  }
  // One FHIR base throughout: no example reuses its variable for something else.
  expect([...bases]).toEqual([`${server.url}/fhir`]);

  // Every search an example prints finds what an earlier one created.
  const answers = res.stdout.split('\n').flatMap((line) => {
    try {
      const value = JSON.parse(line) as unknown;
      return typeof value === 'object' && value !== null ? [value] : [];
    } catch {
      return [];
    }
  });
  const empty = answers.filter(
    (a) =>
      (Array.isArray(a) && a.length === 0) ||
      ((a as { type?: string }).type === 'searchset' && !((a as { entry?: unknown[] }).entry ?? []).length),
  );
  expect(empty).toEqual([]);
  expect(answers.length).toBeGreaterThan(20);
}, 300_000);
