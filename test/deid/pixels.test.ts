import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DcmjsDataset } from 'dcmjs';
import dcmjs from 'dcmjs';
import sharp from 'sharp';
import { multipartBody, newUid, retrieveAsStored, STOW_TYPE } from '../helpers/dicom';
import type { TestServer } from '../helpers/server';
import { fhirFetch, startTestServer } from '../helpers/server';

const SIZE = 512;
let server: TestServer;
let original: Uint8Array;
let profileRef = '';

/**
 * A secondary capture with a name, an MRN, a hospital and a date burned into its corners over a
 * grey disc standing in for anatomy; white text on black, as scanners write it.
 */
async function burnedInImage(): Promise<Uint8Array> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}">
    <rect width="${SIZE}" height="${SIZE}" fill="black"/>
    <circle cx="256" cy="280" r="120" fill="#666666"/>
    <text x="16" y="36" font-family="DejaVu Sans" font-size="20" fill="white">JONES MARY  MRN 4471920</text>
    <text x="16" y="492" font-family="DejaVu Sans" font-size="16" fill="white">ST AGATHA HOSPITAL 2021-03-04</text>
  </svg>`;
  const { data } = await sharp(Buffer.from(svg)).greyscale().raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

function scFile(pixels: Uint8Array, study: string, series: string): Buffer {
  const sop = newUid();
  const sc = '1.2.840.10008.5.1.4.1.1.7';
  const el = (vr: string, ...Value: unknown[]) => ({ vr, Value });
  const file = new dcmjs.data.DicomDict({
    '00020001': el('OB', new Uint8Array([0, 1]).buffer),
    '00020002': el('UI', sc),
    '00020003': el('UI', sop),
    '00020010': el('UI', '1.2.840.10008.1.2.1'),
    '00020012': el('UI', '2.25.1'),
  });
  file.dict = {
    '00080016': el('UI', sc),
    '00080018': el('UI', sop),
    '00080020': el('DA', '20210304'),
    '00080060': el('CS', 'OT'),
    '00080064': el('CS', 'WSD'),
    '00100010': el('PN', { Alphabetic: 'JONES^MARY' }),
    '00100020': el('LO', '4471920'),
    '0020000D': el('UI', study),
    '0020000E': el('UI', series),
    '00280002': el('US', 1),
    '00280004': el('CS', 'MONOCHROME2'),
    '00280010': el('US', SIZE),
    '00280011': el('US', SIZE),
    '00280100': el('US', 8),
    '00280101': el('US', 8),
    '00280102': el('US', 7),
    '00280103': el('US', 0),
    '00280301': el('CS', 'YES'),
    '7FE00010': el('OB', pixels.slice().buffer),
  };
  return Buffer.from(file.write());
}

/** The same file RLE-compressed by dcmtk, so cleaning has to decode first. */
function rle(file: Buffer): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rle-'));
  try {
    fs.writeFileSync(path.join(dir, 'in.dcm'), file);
    execFileSync('dcmcrle', [path.join(dir, 'in.dcm'), path.join(dir, 'out.dcm')]);
    return fs.readFileSync(path.join(dir, 'out.dcm'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function read(file: Buffer): DcmjsDataset {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer;
  return dcmjs.data.DicomMessage.readFile(ab).dict;
}

async function stowAndDeidentify(files: Buffer[], study: string, profile: string) {
  const stow = await fetch(`${server.url}/dicom-web/studies`, {
    method: 'POST',
    headers: { 'Content-Type': STOW_TYPE },
    body: multipartBody(files),
  });
  expect(stow.status).toBe(200);
  const res = await fetch(`${server.url}/dicom-web/studies/${study}/$deidentify`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ profile }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

beforeAll(async () => {
  server = await startTestServer({
    deidKey: { id: 'pixels-test', secret: 'pixels-test-secret-long-enough' },
  });
  original = await burnedInImage();
  // The shipped basic profile, as a hospital's own that cleans pixels instead of quarantining.
  const basic = JSON.parse(fs.readFileSync(path.join(__dirname, '../../profiles/deid/basic.json'), 'utf8'));
  const profile = { ...basic, name: 'basic-clean-pixels', dicom: { ...basic.dicom, burnedInText: 'clean' } };
  const lib = await fhirFetch(server, 'Library', {
    body: {
      resourceType: 'Library',
      status: 'active',
      type: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/library-type', code: 'asset-collection' }],
      },
      content: [
        { contentType: 'application/json', data: Buffer.from(JSON.stringify(profile)).toString('base64') },
      ],
    },
  });
  profileRef = `Library/${lib.body.id}`;
}, 60_000);
afterAll(async () => {
  await server.close();
});

test('burned-in text is found by OCR and blanked: every text pixel, native and RLE, with code 113101', async () => {
  const study = newUid();
  const series = newUid();
  const native = scFile(original, study, series);
  const res = await stowAndDeidentify([native, rle(scFile(original, study, series))], study, profileRef);
  expect(res.status).toBe(200);
  expect(res.body.stored).toBe(2);
  expect(res.body.quarantined).toEqual([]);
  const blanked = (res.body.changes as { attribute: string; count: number }[]).find((c) =>
    c.attribute.startsWith('(7FE0,0010)'),
  );
  expect(blanked?.count).toBeGreaterThanOrEqual(2 * 4);

  const outputs = await retrieveAsStored(`${server.url}/dicom-web/studies/${res.body.study as string}`);
  expect(outputs).toHaveLength(2);
  for (const out of outputs) {
    const ds = read(out);
    expect(ds['00280301']?.Value).toEqual(['NO']);
    const codes = (ds['00120064']?.Value ?? []).map((i) => (i as DcmjsDataset)['00080100']?.Value?.[0]);
    expect(codes).toEqual(['113100', '113101']);
    const pixels = new Uint8Array(ds['7FE00010']?.Value?.[0] as ArrayBuffer);
    // Independent of OCR: each pixel the text drew is black now ...
    let textPixels = 0;
    for (let i = 0; i < original.length; i++)
      if ((original[i] ?? 0) > 150) {
        textPixels++;
        expect(pixels[i]).toBe(0);
      }
    expect(textPixels).toBeGreaterThan(500);
    // ... and the image itself is still there.
    expect(pixels[280 * SIZE + 256]).toBe(original[280 * SIZE + 256]);
    expect(pixels[280 * SIZE + 256]).toBeGreaterThan(80);
  }
});

test('the basic profile quarantines the same images rather than cleaning them', async () => {
  const study = newUid();
  const res = await stowAndDeidentify([scFile(original, study, newUid())], study, 'basic');
  expect(res.status).toBe(409);
  expect(res.body.quarantined).toEqual([{ instance: 1, reason: 'BurnedInAnnotation is YES' }]);
});
