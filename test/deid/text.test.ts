import fs from 'node:fs';
import path from 'node:path';
import type { Parameters, Provenance } from '@medplum/fhirtypes';
import { score } from '../../bench/deid-score';
import type { CorpusDoc } from '../../bench/deid-score';
import { createTextDeidentifier } from '../../src/deid';
import { shiftWrittenDate } from '../../src/deid/text/date-shift';
import type { TestServer } from '../helpers/server';
import { fhirFetch, startTestServer } from '../helpers/server';

const engine = createTextDeidentifier();

test('hard cases: names that are words, eponyms, IDs beside lab values, ages over 89 only', async () => {
  const note = [
    'Patient: Rose Baker   MRN: 48213377   DOB: 03/14/1931',
    'Mrs. Baker is a 93-year-old woman with a Baker cyst and Parkinson disease; her sister is 67 years old.',
    'She expressed hope about going home. Rose 2 points on the pain scale. K 6.8 mmol/L (3.5-5.1) H ref 85602544',
    'Address: 1234 Elm Street, Apt 5',
    'Springfield, IL 62704. Phone (217) 555-0143; fax results to 217-555-0199.',
    'Electronically signed by James O’Neil, MD on 02/10/2024. Email rose.baker@example.com',
  ].join('\n');
  const { text, entities } = await engine.deidentify(note);
  for (const phi of [
    'Rose Baker',
    '48213377',
    '03/14/1931',
    'Mrs. Baker',
    '93',
    '85602544',
    '1234 Elm Street',
    'Springfield',
    '62704',
    '555-0143',
    '555-0199',
    'James',
    '02/10/2024',
    'rose.baker@example.com',
  ])
    expect(text).not.toContain(phi);
  for (const kept of [
    'Baker cyst',
    'Parkinson disease',
    'hope',
    'Rose 2 points',
    '67 years old',
    'K 6.8 mmol/L (3.5-5.1)',
    'IL',
  ])
    expect(text).toContain(kept);
  // The same value gets the same tag; the fax number is typed as a fax.
  expect(text).toMatch(/Patient: \[NAME-1\]/);
  expect(text).toMatch(/Mrs\. \[NAME-\d\] is a \[AGE-1\]-year-old/);
  expect(entities.find((e) => note.slice(e.start, e.end).includes('555-0199'))?.type).toBe('FAX');
  expect(entities.find((e) => note.slice(e.start, e.end) === '93')?.type).toBe('AGE');
  // Every entity's offsets point into the input, in order, without overlap.
  entities.forEach((e, i) => {
    expect(e.end).toBeGreaterThan(e.start);
    if (i > 0) expect(e.start).toBeGreaterThanOrEqual(entities[i - 1]?.end ?? 0);
  });
});

test('longitudinal text keeps dates, moved by the patient offset in their own form', async () => {
  expect(shiftWrittenDate('01/05/2024', 60)).toBe('03/05/2024');
  expect(shiftWrittenDate('1/5/2024', -5)).toBe('12/31/2023');
  expect(shiftWrittenDate('2024-02-28', 2)).toBe('2024-03-01');
  expect(shiftWrittenDate('January 5, 2024', 31)).toBe('February 5, 2024');
  expect(shiftWrittenDate('Jan 5, 2024', 31)).toBe('Feb 5, 2024');
  expect(shiftWrittenDate('5 January 2024', 1)).toBe('6 January 2024');
  expect(shiftWrittenDate('March 3rd', 1)).toBeUndefined();
  expect(shiftWrittenDate('02/30/2024', 1)).toBeUndefined();
  const { text } = await engine.deidentify(
    'Admitted 01/05/2024, discharged January 9, 2024, seen March 3rd.',
    {
      dateShiftDays: 10,
    },
  );
  expect(text).toBe('Admitted 01/15/2024, discharged January 19, 2024, seen [DATE-1].');
});

test('dictated text without capitals: names after spoken cues, spoken dates', async () => {
  const { text } = await engine.deidentify(
    'this is doctor abernathy dictating for patient torrey rohan date of birth january fifth nineteen eighty seven her son dylan will drive',
  );
  expect(text).toBe(
    'this is doctor [NAME-1] dictating for patient [NAME-2] date of birth [DATE-1] her son [NAME-3] will drive',
  );
});

test('the annotated corpus keeps its measured quality (recall and precision floors, not a target)', async () => {
  const file = path.join(__dirname, 'corpus', 'corpus.json');
  const docs = JSON.parse(fs.readFileSync(file, 'utf8')) as CorpusDoc[];
  expect(docs.length).toBeGreaterThanOrEqual(300);
  const s = await score(docs, (t) => engine.findings(t));
  const all = (m: Map<string, { hit: number; total: number }>): number =>
    (m.get('ALL')?.hit ?? 0) / (m.get('ALL')?.total ?? 1);
  expect(all(s.recall)).toBeGreaterThanOrEqual(0.97);
  expect(all(s.precision)).toBeGreaterThanOrEqual(0.95);
});

describe('$deidentify-text', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.close();
  });

  test('answers the de-identified text and entities with type, offsets and replacement, never the value', async () => {
    const input = 'Seen by Dr. Hope Smith on 3/4/2021; call 617-555-0188.';
    const res = await fhirFetch(server, '$deidentify-text', {
      body: { resourceType: 'Parameters', parameter: [{ name: 'text', valueString: input }] },
    });
    expect(res.status).toBe(200);
    const out = res.body as Parameters;
    expect(out.parameter?.find((p) => p.name === 'text')?.valueString).toBe(
      'Seen by Dr. [NAME-1] on [DATE-1]; call [PHONE-1].',
    );
    const entities = out.parameter?.filter((p) => p.name === 'entity') ?? [];
    expect(entities).toHaveLength(3);
    const first = Object.fromEntries(
      (entities[0]?.part ?? []).map((p) => [p.name, p.valueCode ?? p.valueInteger ?? p.valueString]),
    );
    expect(first).toEqual({ type: 'NAME', start: 12, end: 22, replacement: '[NAME-1]' });
    expect(res.text).not.toContain('Smith');
    expect(res.text).not.toContain('555-0188');
    // The run is audited, without the text.
    const audits = await fhirFetch(server, 'AuditEvent?_count=50');
    const runs = JSON.stringify(audits.body);
    expect(runs).toContain('deidentify-text');
    expect(runs).not.toContain('Smith');
    // ... and traced: a Provenance naming the answer by its run id, with a change log by type.
    const run = out.parameter?.find((p) => p.name === 'run')?.valueUri;
    const provRef = out.parameter?.find((p) => p.name === 'provenance')?.valueReference?.reference;
    const prov = (await fhirFetch(server, provRef ?? '')).body as Provenance;
    expect(prov.target[0]?.identifier?.value).toBe(run);
    const log = JSON.parse(
      (await fhirFetch(server, prov.extension?.[0]?.valueReference?.reference ?? '')).text,
    ) as {
      changes: { attribute: string; count: number }[];
    };
    expect(log.changes).toEqual(
      expect.arrayContaining([
        { attribute: 'NAME', action: 'replace', count: 1 },
        { attribute: 'PHONE', action: 'replace', count: 1 },
      ]),
    );
    expect(JSON.stringify(log)).not.toContain('Smith');
  });

  test('bad input: no text, an unknown profile, not Parameters, or GET: OperationOutcome with the place', async () => {
    const missing = await fhirFetch(server, '$deidentify-text', {
      body: { resourceType: 'Parameters', parameter: [{ name: 'profile', valueString: 'basic' }] },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.issue[0].expression).toEqual(['Parameters.parameter']);
    const unknown = await fhirFetch(server, '$deidentify-text', {
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'text', valueString: 'x' },
          { name: 'profile', valueString: 'nonsense' },
        ],
      },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.issue[0].expression).toEqual(['Parameters.parameter[1].valueString']);
    expect((await fhirFetch(server, '$deidentify-text', { body: { resourceType: 'Patient' } })).status).toBe(
      400,
    );
    expect((await fhirFetch(server, '$deidentify-text?text=John')).status).toBe(405);
  });
});

test('surrogates: realistic stand-ins, the same for the same value, dates moved together', async () => {
  const note =
    'Rose Baker (MRN 48213377) seen 01/05/2024 and again 01/15/2024. Rose Baker phoned (217) 555-0143.';
  const { text, entities } = await engine.deidentify(note, { replacement: 'surrogate' });
  for (const phi of ['Rose Baker', '48213377', '01/05/2024', '01/15/2024', '555-0143'])
    expect(text).not.toContain(phi);
  expect(text).not.toMatch(/\[[A-Z]+-\d+\]/);
  const names = entities.filter((e) => e.type === 'NAME').map((e) => e.replacement);
  expect(names).toHaveLength(2);
  expect(names[0]).toBe(names[1]);
  expect(names[0]).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/);
  const dates = entities.filter((e) => e.type === 'DATE').map((e) => new Date(e.replacement).getTime());
  expect((dates[1] ?? 0) - (dates[0] ?? 0)).toBe(10 * 86_400_000);
  const phone = entities.find((e) => e.type === 'PHONE')?.replacement ?? '';
  expect(phone).toMatch(/^\(\d{3}\) \d{3}-\d{4}$/);
  // Offsets still refer to the input, and the text is the input with each span replaced.
  let rebuilt = '';
  let at = 0;
  for (const e of entities) {
    rebuilt += note.slice(at, e.start) + e.replacement;
    at = e.end;
  }
  expect(rebuilt + note.slice(at)).toBe(text);
});
