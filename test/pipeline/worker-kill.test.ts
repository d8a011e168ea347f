import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { Bundle, Observation, Task } from '@medplum/fhirtypes';
import { PDFDocument } from 'pdf-lib';
import sharp from 'sharp';
import type { TestServer } from '../helpers/server';
import { fhirFetch, startTestServer } from '../helpers/server';

// Workers as separate processes share the database: this runs in the PostgreSQL pass of CI.
const withPostgres = process.env.TEST_DATABASE_URL ? test : test.skip;
const PIPELINE = 'urn:fhir-dicomweb-server:pipeline';

/** A two-page scanned lab report (no text layer): OCR keeps a worker busy for seconds. */
async function scannedReport(): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  for (const lines of [
    ['Potassium 6.9 mmol/L (3.5-5.1) H', 'Sodium 139 mmol/L (135-145)'],
    ['Hemoglobin 12.1 g/dL (12.0-16.0)', 'Platelets 250 10*3/uL (150-400)'],
  ]) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="1240" height="400"><rect width="1240" height="400" fill="white"/>${lines
      .map(
        (l, i) =>
          `<text x="60" y="${100 + i * 80}" font-family="DejaVu Sans" font-size="40" fill="black">${l}</text>`,
      )
      .join('')}</svg>`;
    const image = await pdf.embedPng(await sharp(Buffer.from(svg)).png().toBuffer());
    pdf.addPage([595, 192]).drawImage(image, { x: 0, y: 0, width: 595, height: 192 });
  }
  return Buffer.from(await pdf.save());
}

function startWorker(server: TestServer): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: process.env.TEST_DATABASE_URL,
      DATABASE_SCHEMA: server.schema,
      DATA_DIR: server.dataDir,
      BASE_URL: server.url,
      WORKER_CONCURRENCY: '1',
      JOB_POLL_SECONDS: '0.5',
      JOB_EXPIRE_SECONDS: '4',
      JOB_MAINTENANCE_SECONDS: '1',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return {
    child,
    exited: new Promise((resolve) =>
      child.on('exit', (code) => {
        resolve(code);
      }),
    ),
  };
}

async function taskOf(server: TestServer, source: string): Promise<Task | undefined> {
  const query = `Task?identifier=${encodeURIComponent(`${PIPELINE}|${source}/_history/1`)}`;
  return ((await fhirFetch(server, query)).body as Bundle<Task>).entry?.[0]?.resource;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, seconds: number): Promise<T> {
  for (let i = 0; i < seconds * 4; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

withPostgres(
  'a worker killed with SIGKILL mid-run: another picks the job up and the outputs exist exactly once',
  async () => {
    // The API process runs no workers; its jobs expire 4 s after a worker stops reporting.
    const server = await startTestServer({
      workerConcurrency: 0,
      jobExpireSeconds: 4,
      jobMaintenanceSeconds: 1,
    });
    const workers: ChildProcess[] = [];
    try {
      const patient = (await fhirFetch(server, 'Patient', { body: { resourceType: 'Patient' } })).body
        .id as string;
      const dr = await fhirFetch(server, 'DiagnosticReport', {
        body: {
          resourceType: 'DiagnosticReport',
          status: 'final',
          code: { text: 'Chemistry and CBC' },
          subject: { reference: `Patient/${patient}` },
          presentedForm: [
            { contentType: 'application/pdf', data: (await scannedReport()).toString('base64') },
          ],
        },
      });
      const source = `DiagnosticReport/${dr.body.id}`;

      const first = startWorker(server);
      workers.push(first.child);
      await until(
        'the first worker to be reading the scan',
        async () =>
          (await taskOf(server, source))?.businessStatus?.text === 'extract-text' ? true : undefined,
        60,
      );
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe(null);
      const observations = async (): Promise<Observation[]> =>
        (
          (
            (await fhirFetch(server, `Observation?subject=Patient/${patient}&_count=100`))
              .body as Bundle<Observation>
          ).entry ?? []
        ).map((e) => e.resource as Observation);
      expect(await observations()).toEqual([]);
      expect((await taskOf(server, source))?.status).toBe('in-progress');

      const second = startWorker(server);
      workers.push(second.child);
      const task = await until(
        'the job to be run again and finish',
        async () => {
          const t = await taskOf(server, source);
          return t && ['completed', 'failed'].includes(t.status) ? t : undefined;
        },
        90,
      );
      expect(task.status).toBe('completed');
      const made = await observations();
      // Potassium, sodium, hemoglobin, platelets, and one critical potassium: once each, version 1.
      expect(made.map((o) => o.code.coding?.[0]?.code).sort()).toEqual(
        ['2823-3', '2951-2', '718-7', '777-3', 'critical-lab-value'].sort(),
      );
      expect(made.every((o) => o.meta?.versionId === '1')).toBe(true);
      const provenance = (await fhirFetch(server, 'Provenance?_summary=count')).body.total as number;
      expect(provenance).toBe((task.output ?? []).filter((o) => o.valueReference).length);
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    } finally {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
      await server.close();
    }
  },
  180_000,
);
