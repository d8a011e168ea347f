import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestServer } from './helpers/server';
import { fhirFetch, startTestServer } from './helpers/server';
import { multipartBody, newUid, STOW_TYPE, testFile, uidsOf, withNewUids } from './helpers/dicom';

let server: TestServer;
let tmp: string;

beforeAll(async () => {
  server = await startTestServer();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'charset-'));
});
afterAll(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * A copy of MR_small whose PatientName is `name`, encoded by dcmtk in `charset` (the Specific
 * Character Set term), so the bytes on the wire are Latin-1, Cyrillic or UTF-8 as a modality sends.
 */
function withName(name: string, charset: string, patientId: string): Buffer {
  const file = path.join(tmp, `${newUid()}.dcm`);
  fs.writeFileSync(file, withNewUids(testFile('MR_small.dcm'), { study: newUid(), series: newUid() }));
  execFileSync('dcmodify', [
    '-nb',
    '-i',
    '(0008,0005)=ISO_IR 192',
    '-i',
    `(0010,0010)=${name}`,
    '-i',
    `(0010,0020)=${patientId}`,
    file,
  ]);
  if (charset === 'ISO_IR 192') return fs.readFileSync(file);
  execFileSync('dcmconv', ['+C', charset, file, `${file}.out`]);
  return fs.readFileSync(`${file}.out`);
}

const CASES = [
  {
    charset: 'ISO_IR 100',
    name: 'Müller^Jörg',
    search: 'müll*',
    family: 'Müller',
    raw: Buffer.from('M\xfcller', 'latin1'),
  },
  {
    charset: 'ISO_IR 144',
    name: 'Люксембург^Иван',
    search: 'Люксем*',
    family: 'Люксембург',
    raw: Buffer.from([0xbb, 0xee, 0xda]),
  },
  {
    charset: 'ISO_IR 192',
    name: 'Wang^XiaoDong=王^小東',
    search: 'wang*',
    family: 'Wang',
    raw: Buffer.from('王', 'utf8'),
  },
];

test.each(CASES)('$charset names are decoded, matched and handed to FHIR as Unicode', async (c) => {
  const pid = `CS-${newUid().slice(-8)}`;
  const file = withName(c.name, c.charset, pid);
  expect(file.includes(c.raw)).toBe(true); // the file really carries that encoding
  const stow = await fetch(`${server.url}/dicom-web/studies`, {
    method: 'POST',
    headers: { 'Content-Type': STOW_TYPE },
    body: multipartBody([file]),
  });
  expect(stow.status).toBe(200);
  const { study } = uidsOf(file);
  const res = await fetch(
    `${server.url}/dicom-web/studies?PatientName=${encodeURIComponent(c.search)}&PatientID=${pid}`,
    { headers: { Accept: 'application/dicom+json' } },
  );
  const found = (await res.json()) as Record<
    string,
    { Value?: { Alphabetic?: string; Ideographic?: string }[] }
  >[];
  expect(found).toHaveLength(1);
  const pn = found[0]?.['00100010']?.Value?.[0];
  const [alphabetic, ideographic] = c.name.split('=');
  expect(pn?.Alphabetic).toBe(alphabetic);
  if (ideographic) expect(pn?.Ideographic).toBe(ideographic);
  const imaging = await fhirFetch(server, `ImagingStudy/${study}`);
  const patient = await fhirFetch(server, imaging.body.subject.reference);
  expect(patient.body.name[0].family).toBe(c.family);
});
