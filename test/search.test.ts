import { SYSTEM_ACCESS } from '../src/shared';
import type { TestServer } from './helpers/server';
import { fhirFetch, startTestServer } from './helpers/server';

let server: TestServer;
let patientId = '';
const ids = (body: { entry?: { resource: { id: string; resourceType: string } }[] }): string[] =>
  (body.entry ?? []).filter((e) => e.resource.resourceType !== 'OperationOutcome').map((e) => e.resource.id);

beforeAll(async () => {
  // Without the pipeline: its findings would join the Observations these searches count.
  server = await startTestServer({ pipeline: false });
  const p = await fhirFetch(server, 'Patient', {
    body: {
      resourceType: 'Patient',
      id: 'ignored',
      name: [{ family: 'Élodie-Search', given: ['Zoë'] }],
      gender: 'female',
      birthDate: '1980-05-17',
      identifier: [{ system: 'urn:mrn', value: 'S-1' }],
      telecom: [{ system: 'email', value: 'zoe@example.org' }],
      address: [{ city: 'Springfield', postalCode: '12345' }],
    },
  });
  patientId = p.body.id;
  await fhirFetch(server, 'Patient', {
    body: { resourceType: 'Patient', name: [{ family: 'Other' }], gender: 'male', birthDate: '1950' },
  });
  const values = [3.4, 5.0, 6.8, 7.2];
  for (const [i, v] of values.entries()) {
    await fhirFetch(server, 'Observation', {
      body: {
        resourceType: 'Observation',
        status: i === 0 ? 'preliminary' : 'final',
        code: {
          coding: [{ system: 'http://loinc.org', code: '2823-3', display: 'Potassium' }],
          text: 'Potassium serum',
        },
        subject: { reference: `Patient/${patientId}` },
        effectiveDateTime: `2024-01-0${i + 1}T08:00:00Z`,
        valueQuantity: { value: v, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
      },
    });
  }
  await fhirFetch(server, 'RiskAssessment', {
    body: {
      resourceType: 'RiskAssessment',
      status: 'final',
      subject: { reference: `Patient/${patientId}` },
      prediction: [{ probabilityDecimal: 0.25 }],
    },
  });
});
afterAll(async () => {
  await server.close();
});

test('string: prefix, accent- and case-insensitive; :exact and :contains', async () => {
  expect(ids((await fhirFetch(server, 'Patient?family=elodie')).body)).toEqual([patientId]);
  expect(ids((await fhirFetch(server, 'Patient?name=zoe')).body)).toEqual([patientId]);
  expect(ids((await fhirFetch(server, 'Patient?family:exact=elodie-search')).body)).toEqual([]);
  expect(ids((await fhirFetch(server, 'Patient?family:exact=Élodie-Search')).body)).toEqual([patientId]);
  expect(ids((await fhirFetch(server, 'Patient?family:contains=search')).body)).toEqual([patientId]);
  expect(ids((await fhirFetch(server, 'Patient?address-city=spring')).body)).toEqual([patientId]);
});

test('token: system|code, code, |code, :not, :text, OR values', async () => {
  expect(ids((await fhirFetch(server, 'Patient?identifier=urn:mrn|S-1')).body)).toEqual([patientId]);
  expect(ids((await fhirFetch(server, 'Patient?identifier=S-1')).body)).toEqual([patientId]);
  expect(ids((await fhirFetch(server, 'Patient?identifier=urn:other|S-1')).body)).toEqual([]);
  expect(ids((await fhirFetch(server, 'Patient?email=zoe@example.org')).body)).toEqual([patientId]);
  expect((await fhirFetch(server, 'Observation?code=http://loinc.org|2823-3')).body.entry).toHaveLength(4);
  expect((await fhirFetch(server, 'Observation?status:not=final')).body.entry).toHaveLength(1);
  expect((await fhirFetch(server, 'Observation?code:text=potass')).body.entry).toHaveLength(4);
  expect((await fhirFetch(server, 'Patient?gender=male,female')).body.entry).toHaveLength(2);
});

test('reference: Type/id, bare id, :Type modifier, chained AND', async () => {
  expect((await fhirFetch(server, `Observation?subject=Patient/${patientId}`)).body.entry).toHaveLength(4);
  expect((await fhirFetch(server, `Observation?patient=${patientId}`)).body.entry).toHaveLength(4);
  expect((await fhirFetch(server, `Observation?subject:Patient=${patientId}`)).body.entry).toHaveLength(4);
  expect(
    (await fhirFetch(server, `Observation?subject=Patient/${patientId}&status=preliminary`)).body.entry,
  ).toHaveLength(1);
});

test('date: prefixes and precision', async () => {
  expect(ids((await fhirFetch(server, 'Patient?birthdate=1980')).body)).toEqual([patientId]);
  expect(ids((await fhirFetch(server, 'Patient?birthdate=1980-05')).body)).toEqual([patientId]);
  expect(ids((await fhirFetch(server, 'Patient?birthdate=lt1960')).body)).toHaveLength(1);
  expect(
    (await fhirFetch(server, 'Observation?date=ge2024-01-02&date=lt2024-01-04')).body.entry,
  ).toHaveLength(2);
  expect((await fhirFetch(server, 'Observation?date=2024-01-03T08:00:00Z')).body.entry).toHaveLength(1);
  expect((await fhirFetch(server, 'Observation?date=not-a-date')).status).toBe(400);
});

test('quantity and number: prefixes, units and implicit precision', async () => {
  expect((await fhirFetch(server, 'Observation?value-quantity=gt6')).body.entry).toHaveLength(2);
  expect(
    (await fhirFetch(server, 'Observation?value-quantity=le5|http://unitsofmeasure.org|mmol/L')).body.entry,
  ).toHaveLength(2);
  expect((await fhirFetch(server, 'Observation?value-quantity=6.8||mmol/L')).body.entry).toHaveLength(1);
  // "7" means [6.5, 7.5): both 6.8 and 7.2 match; "7.2" means [7.15, 7.25).
  expect((await fhirFetch(server, 'Observation?value-quantity=7')).body.entry).toHaveLength(2);
  expect((await fhirFetch(server, 'Observation?value-quantity=7.2')).body.entry).toHaveLength(1);
  expect((await fhirFetch(server, 'RiskAssessment?probability=0.25')).body.entry).toHaveLength(1);
  expect((await fhirFetch(server, 'RiskAssessment?probability=gt0.3')).body.entry).toBeUndefined();
});

test('_id, _lastUpdated and :missing', async () => {
  expect(ids((await fhirFetch(server, `Patient?_id=${patientId}`)).body)).toEqual([patientId]);
  expect((await fhirFetch(server, 'Patient?_lastUpdated=gt2000-01-01')).body.entry).toHaveLength(2);
  expect((await fhirFetch(server, 'Patient?_lastUpdated=lt2000-01-01')).body.entry).toBeUndefined();
  expect(ids((await fhirFetch(server, 'Patient?email:missing=false')).body)).toEqual([patientId]);
  expect((await fhirFetch(server, 'Patient?email:missing=true')).body.entry).toHaveLength(1);
});

test('_sort on dates, _summary=count and _total', async () => {
  const asc = await fhirFetch(server, 'Observation?_sort=date');
  const desc = await fhirFetch(server, 'Observation?_sort=-date');
  const dates = (b: { entry: { resource: { effectiveDateTime: string } }[] }): string[] =>
    b.entry.map((e) => e.resource.effectiveDateTime);
  expect(dates(asc.body)).toEqual([...dates(asc.body)].sort());
  expect(dates(desc.body)).toEqual([...dates(asc.body)].reverse());
  const count = await fhirFetch(server, 'Observation?_summary=count');
  expect(count.body.total).toBe(4);
  expect(count.body.entry).toBeUndefined();
  const total = await fhirFetch(server, 'Observation?_count=1&_total=accurate');
  expect(total.body.total).toBe(4);
  expect(total.body.entry).toHaveLength(1);
});

test('paging: next/previous links stay correct while data changes', async () => {
  const made: string[] = [];
  for (let i = 0; i < 7; i++)
    made.push(
      (await fhirFetch(server, 'Location', { body: { resourceType: 'Location', name: `Ward ${i}` } })).body
        .id,
    );
  const seen: string[] = [];
  let page = await fhirFetch(server, 'Location?_count=3&_sort=_lastUpdated');
  const firstPage = ids(page.body);
  seen.push(...firstPage);
  // Data changes between pages: an insert and a delete of an already-seen resource.
  await fhirFetch(server, 'Location', { body: { resourceType: 'Location', name: 'Ward late' } });
  await fhirFetch(server, `Location/${firstPage[0] ?? ''}`, { method: 'DELETE' });
  let next = page.body.link.find((l: { relation: string }) => l.relation === 'next');
  let pageTwo: string[] = [];
  while (next) {
    page = await fhirFetch(server, (next.url as string).slice(server.fhirBase.length));
    if (pageTwo.length === 0) pageTwo = ids(page.body);
    seen.push(...ids(page.body));
    next = page.body.link.find((l: { relation: string }) => l.relation === 'next');
  }
  expect(new Set(seen).size).toBe(seen.length);
  for (const id of made) expect(seen).toContain(id);
  expect(seen).toHaveLength(8);
  // previous from the second page returns the first page minus the deleted resource.
  const second = await fhirFetch(server, 'Location?_count=3&_sort=_lastUpdated');
  const nextUrl = second.body.link.find((l: { relation: string }) => l.relation === 'next').url as string;
  const p2 = await fhirFetch(server, nextUrl.slice(server.fhirBase.length));
  const prevUrl = p2.body.link.find((l: { relation: string }) => l.relation === 'previous').url as string;
  const back = await fhirFetch(server, prevUrl.slice(server.fhirBase.length));
  expect(ids(back.body)).toEqual(ids(second.body));
});

test('Prefer: handling=strict rejects unknown parameters; lenient ignores and reports them', async () => {
  const strict = await fhirFetch(server, 'Patient?foo=bar', { headers: { Prefer: 'handling=strict' } });
  expect(strict.status).toBe(400);
  expect(strict.body.issue[0].expression).toEqual(['foo']);
  const lenient = await fhirFetch(server, 'Patient?foo=bar&gender=female', {
    headers: { Prefer: 'handling=lenient' },
  });
  expect(lenient.status).toBe(200);
  expect(ids(lenient.body)).toEqual([patientId]);
  const outcome = lenient.body.entry.find((e: { search: { mode: string } }) => e.search.mode === 'outcome');
  expect(outcome.resource.issue[0].expression).toEqual(['foo']);
  expect(lenient.body.link[0].url).not.toContain('foo=');
});

test('POST _search with a form body', async () => {
  const res = await fetch(`${server.fhirBase}/Patient/_search`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'family=elodie',
  });
  const body = (await res.json()) as { entry: { resource: { id: string } }[] };
  expect(body.entry[0]?.resource.id).toBe(patientId);
});

test('an update rewrites only the index rows that changed, and leaves every value searchable', async () => {
  const body = {
    resourceType: 'Patient',
    identifier: [
      { system: 'urn:diff', value: 'kept' },
      { system: 'urn:diff', value: 'dropped' },
    ],
    birthDate: '1970-01-01',
    managingOrganization: { reference: 'Organization/diff-org' },
  };
  const created = await fhirFetch(server, 'Patient', { body });
  expect(created.status).toBe(400); // the organisation does not exist yet
  await fhirFetch(server, 'Organization/diff-org', {
    method: 'PUT',
    body: { resourceType: 'Organization', id: 'diff-org', name: 'Diff' },
  });
  const p = await fhirFetch(server, 'Patient', { body });
  const id = p.body.id;
  const stored = async (table: string): Promise<number> =>
    Number(((await server.db(table).where({ resource_id: id }).count('* as n').first()) as { n: string }).n);
  const tokensBefore = await stored('sp_token');
  await fhirFetch(server, `Patient/${id}`, {
    method: 'PUT',
    body: {
      resourceType: 'Patient',
      id,
      identifier: [
        { system: 'urn:diff', value: 'kept' },
        { system: 'urn:diff', value: 'added' },
      ],
      birthDate: '1971-02-02',
    },
  });
  const search = async (q: string): Promise<string[]> => ids((await fhirFetch(server, `Patient?${q}`)).body);
  expect(await search('identifier=urn:diff|kept')).toEqual([id]);
  expect(await search('identifier=urn:diff|added')).toEqual([id]);
  expect(await search('identifier=urn:diff|dropped')).toEqual([]);
  expect(await search('birthdate=1971-02-02')).toEqual([id]);
  expect(await search('birthdate=1970-01-01')).toEqual([]);
  expect(await search('organization=Organization/diff-org')).toEqual([]);
  expect(await stored('sp_token')).toBe(tokensBefore);
  expect(await stored('sp_reference')).toBe(0);
  const refs = await server.db('resource_reference').where({ src_id: id }).count('* as n').first();
  expect(Number((refs as { n: string }).n)).toBe(0);
  // The organisation is no longer referenced, so it can be deleted.
  expect((await fhirFetch(server, 'Organization/diff-org', { method: 'DELETE' })).status).toBe(200);
});

test('a resource written twice in one transaction keeps only its last index rows', async () => {
  await server.repo.transaction(async (repo) => {
    const created = await repo.create(SYSTEM_ACCESS, {
      resourceType: 'Patient',
      name: [{ family: 'Twicebefore' }],
    });
    await repo.update(SYSTEM_ACCESS, { ...created, name: [{ family: 'Twiceafter' }] });
  });
  const before = await fhirFetch(server, 'Patient?family=Twicebefore');
  const after = await fhirFetch(server, 'Patient?family=Twiceafter');
  expect(ids(before.body)).toHaveLength(0);
  expect(ids(after.body)).toHaveLength(1);
  const rows: { value: string }[] = await server
    .db('sp_string')
    .where({ code: 'family' })
    .whereIn('value', ['twicebefore', 'twiceafter'])
    .select('value');
  expect(rows.map((r) => r.value)).toEqual(['twiceafter']);
});
