import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { TestServer } from './helpers/server';
import { startTestServer } from './helpers/server';
import {
  dicomWebClient,
  instancePath,
  multipartBody,
  newUid,
  parseMultipartResponse,
  PYDICOM,
  STOW_TYPE,
  uidsOf,
  withNewUids,
} from './helpers/dicom';

let server: TestServer;
let tmp: string;

beforeAll(async () => {
  // A small inline limit puts palette lookup tables behind BulkDataURIs, read back by range.
  server = await startTestServer({ dicomInlineBinaryBytes: 64 });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rendered-'));
});
afterAll(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Stores a copy of a pydicom file and returns its instance URL. */
async function store(
  name: string,
  ids: { study?: string; series?: string } = {},
): Promise<{ url: string; file: Buffer }> {
  const original = fs.readFileSync(path.isAbsolute(name) ? name : path.join(PYDICOM, name));
  // dcmjs cannot re-write a deflated file, so that one is stored as it is (once per server).
  const file = name.endsWith('_dfl.dcm')
    ? original
    : withNewUids(original, { study: ids.study ?? newUid(), series: ids.series ?? newUid() });
  const res = await fetch(`${server.url}/dicom-web/studies`, {
    method: 'POST',
    headers: { 'Content-Type': STOW_TYPE },
    body: multipartBody([file]),
  });
  expect(res.status).toBe(200);
  return { url: `${server.url}${instancePath(file)}`, file };
}

/** Runs a dcmtk tool that converts `file`, returning the output. */
function dcmtk(tool: string, file: Buffer, args: string[] = []): Buffer {
  const src = path.join(tmp, `${newUid()}.dcm`);
  fs.writeFileSync(src, file);
  execFileSync(tool, [...args, src, `${src}.out`], { stdio: 'pipe' });
  return fs.readFileSync(`${src}.out`);
}

/** dcmtk's renderer, as the reference for window, rescale and colour handling. */
function dcmtkRender(file: Buffer, args: string[]): PNG {
  const src = path.join(tmp, `${newUid()}.dcm`);
  const out = `${src}.png`;
  fs.writeFileSync(src, file);
  execFileSync('dcmj2pnm', ['+on', ...args, src, out], { stdio: 'pipe' });
  return PNG.sync.read(fs.readFileSync(out));
}

/** Largest difference of the grey (or red, green and blue) values of two renderings. */
function worstDifference(ours: PNG, ref: PNG): number {
  expect([ours.width, ours.height]).toEqual([ref.width, ref.height]);
  let worst = 0;
  for (let i = 0; i < ours.width * ours.height; i++) {
    for (let c = 0; c < 3; c++) {
      const refValue = ref.data[i * 4 + (ref.data.length === ours.data.length ? c : 0)] ?? 0;
      worst = Math.max(worst, Math.abs((ours.data[i * 4 + c] ?? 0) - refValue));
    }
  }
  return worst;
}

async function get(
  url: string,
  accept?: string,
): Promise<{ status: number; type: string; body: Buffer; headers: Headers }> {
  const res = await fetch(url, { headers: accept ? { Accept: accept } : {} });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: Buffer.from(await res.arrayBuffer()),
    headers: res.headers,
  };
}

test('a CT renders as dcmtk renders it: min-max window by default, window= when given', async () => {
  const { url, file } = await store('CT_small.dcm');
  const jpg = await get(`${url}/rendered`);
  expect(jpg.status).toBe(200);
  expect(jpg.type).toBe('image/jpeg');
  const decoded = jpeg.decode(jpg.body);
  expect([decoded.width, decoded.height]).toEqual([128, 128]);

  const png = await get(`${url}/rendered`, 'image/png');
  expect(png.type).toBe('image/png');
  expect(worstDifference(PNG.sync.read(png.body), dcmtkRender(file, ['+Wm']))).toBeLessThanOrEqual(1);

  const windowed = await get(`${url}/rendered?window=40,400,linear`, 'image/png');
  expect(
    worstDifference(PNG.sync.read(windowed.body), dcmtkRender(file, ['+Ww', '40', '400'])),
  ).toBeLessThanOrEqual(1);
});

test('a deflated instance, which has no frame offsets, renders from its inflated copy', async () => {
  const { url, file } = await store('image_dfl.dcm');
  const png = await get(`${url}/rendered`, 'image/png');
  expect(png.status).toBe(200);
  expect(worstDifference(PNG.sync.read(png.body), dcmtkRender(file, ['+Wm']))).toBeLessThanOrEqual(1);
});

test('RGB and multi-frame: each frame renders on its own, several frames come as multipart', async () => {
  const { url, file } = await store('SC_rgb_rle_2frame.dcm');
  const second = await get(`${url}/frames/2/rendered`, 'image/png');
  expect(second.status).toBe(200);
  expect(worstDifference(PNG.sync.read(second.body), dcmtkRender(file, ['+F', '2']))).toBe(0);
  const both = await get(`${url}/frames/1,2/rendered`, 'multipart/related; type="image/png"');
  expect(both.type).toMatch(/^multipart\/related; type="image\/png"/);
  const parts = parseMultipartResponse(both.body, both.type);
  expect(parts).toHaveLength(2);
  expect(parts[1]?.body.equals(second.body)).toBe(true);
  expect((await get(`${url}/frames/3/rendered`)).status).toBe(404);

  // A palette colour image made by dcmtk's quantizer renders with its lookup tables.
  const rgb = dcmtk('dcmdrle', fs.readFileSync(path.join(PYDICOM, 'SC_rgb_rle.dcm')));
  const paletteFile = path.join(tmp, 'palette.dcm');
  fs.writeFileSync(paletteFile, dcmtk('dcmquant', rgb, ['+pc', '256']));
  const palette = await store(paletteFile);
  const rendered = await get(`${palette.url}/rendered`, 'image/png');
  expect(rendered.status).toBe(200);
  expect(worstDifference(PNG.sync.read(rendered.body), dcmtkRender(palette.file, []))).toBe(0);
});

test('viewport scales (and crops) the rendering; thumbnails fit in 128 pixels at every level', async () => {
  const study = newUid();
  const series = newUid();
  const { url } = await store('MR_small.dcm', { study, series });
  await store('MR_small_RLE.dcm', { study, series });
  const scaled = await get(`${url}/rendered?viewport=32,16`, 'image/png');
  expect([PNG.sync.read(scaled.body).width, PNG.sync.read(scaled.body).height]).toEqual([32, 16]);
  const cropped = await get(`${url}/rendered?viewport=10,10,0,0,10,10`, 'image/png');
  const full = PNG.sync.read((await get(`${url}/rendered`, 'image/png')).body);
  const crop = PNG.sync.read(cropped.body);
  expect(crop.data.subarray(0, 40).equals(full.data.subarray(0, 40))).toBe(true);
  for (const level of [
    `${server.url}/dicom-web/studies/${study}`,
    `${server.url}/dicom-web/studies/${study}/series/${series}`,
    url,
  ]) {
    const thumb = await get(`${level}/thumbnail`);
    expect(thumb.status).toBe(200);
    expect(thumb.type).toBe('image/jpeg');
    const img = jpeg.decode(thumb.body);
    expect(Math.max(img.width, img.height)).toBeLessThanOrEqual(128);
  }
  const series2 = await get(`${server.url}/dicom-web/studies/${study}/rendered`);
  expect(parseMultipartResponse(series2.body, series2.type)).toHaveLength(2);
});

test('dicomweb-client retrieves rendered instances, frames and thumbnails', async () => {
  const { file } = await store('CT_small.dcm');
  const { study, series, sop } = uidsOf(file);
  const client = dicomWebClient(`${server.url}/dicom-web`);
  const ids = { studyInstanceUID: study, seriesInstanceUID: series, sopInstanceUID: sop };
  // The client hands back the body as a one-element list of ArrayBuffers.
  const [png] = (await client.retrieveInstanceRendered({
    ...ids,
    mediaTypes: [{ mediaType: 'image/png' }],
    queryParams: { window: '40,400' },
  })) as ArrayBuffer[];
  expect(
    worstDifference(PNG.sync.read(Buffer.from(png as ArrayBuffer)), dcmtkRender(file, ['+Ww', '40', '400'])),
  ).toBeLessThanOrEqual(1);
  const [frame] = (await client.retrieveInstanceFramesRendered({
    ...ids,
    frameNumbers: [1],
    mediaTypes: [{ mediaType: 'image/jpeg' }],
  })) as ArrayBuffer[];
  expect(jpeg.decode(Buffer.from(frame as ArrayBuffer)).width).toBe(128);
  const [thumb] = (await client.retrieveInstanceThumbnail({
    ...ids,
    mediaTypes: [{ mediaType: 'image/jpeg' }],
    queryParams: { viewport: '64,64' },
  })) as ArrayBuffer[];
  expect(jpeg.decode(Buffer.from(thumb as ArrayBuffer)).width).toBe(64);
});

test('bad rendering requests: 400 for bad parameters, 406 for what cannot be rendered', async () => {
  const { url } = await store('MR_small.dcm');
  expect((await get(`${url}/rendered?quality=0`)).status).toBe(400);
  expect((await get(`${url}/rendered?window=10,0`)).status).toBe(400);
  expect((await get(`${url}/rendered?window=10,20,sigmoid`)).status).toBe(400);
  expect((await get(`${url}/rendered?viewport=0,10`)).status).toBe(400);
  expect((await get(`${url}/rendered?bogus=1`)).status).toBe(400);
  expect((await get(`${url}/rendered`, 'image/gif')).status).toBe(406);
  const annotated = await get(`${url}/rendered?annotation=patient`);
  expect(annotated.status).toBe(200);
  expect(annotated.headers.get('warning')).toMatch(/^299 /);
  const sr = await store('test-SR.dcm');
  expect((await get(`${sr.url}/rendered`)).status).toBe(406);
});
