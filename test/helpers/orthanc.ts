import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { freePort } from './ports';

const PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

export interface Orthanc {
  url: string;
  /** JSON request against Orthanc's REST API. */
  api(method: string, route: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

/** Starts a throwaway Orthanc (Debian orthanc + orthanc-dicomweb) on loopback ports, with its own storage. */
export async function startOrthanc(): Promise<Orthanc> {
  const binary = ['/usr/sbin/Orthanc', '/usr/bin/Orthanc'].find((p) => fs.existsSync(p));
  if (!binary || !fs.existsSync(PLUGIN))
    throw new Error('Orthanc is not installed: apt-get install orthanc orthanc-dicomweb (.ci/run does)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orthanc-'));
  const httpPort = await freePort();
  const config = {
    Name: 'test-pacs',
    DicomAet: 'TESTPACS',
    HttpPort: httpPort,
    DicomPort: await freePort(),
    DicomServerEnabled: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    StorageDirectory: path.join(dir, 'db'),
    IndexDirectory: path.join(dir, 'db'),
    Plugins: [PLUGIN],
    DicomWeb: { Enable: true, Root: '/dicom-web/' },
  };
  fs.writeFileSync(path.join(dir, 'orthanc.json'), JSON.stringify(config));
  const child: ChildProcess = spawn(binary, [path.join(dir, 'orthanc.json')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${httpPort}`;
  const api = async (
    method: string,
    route: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${url}${route}`, {
      method,
      headers:
        body instanceof Buffer
          ? { 'Content-Type': 'application/dicom' }
          : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : body instanceof Buffer ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Orthanc answers some routes with plain text.
    }
    return { status: res.status, body: parsed };
  };
  for (let i = 0; ; i++) {
    try {
      if ((await api('GET', '/system')).status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (i > 150 || child.exitCode !== null) throw new Error('Orthanc did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    api,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
