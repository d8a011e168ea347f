import type { CapabilityStatement } from '@medplum/fhirtypes';
import { OPERATIONS } from '../src/fhir/operations';
import type { TestServer } from './helpers/server';
import { fhirFetch, startTestServer } from './helpers/server';

let server: TestServer;
let id = '';
beforeAll(async () => {
  server = await startTestServer({ maxBodyBytes: 200_000 });
  id = (
    await fhirFetch(server, 'Patient', {
      body: {
        resourceType: 'Patient',
        text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Ann</div>' },
        name: [{ family: 'Fmt' }],
        gender: 'female',
        maritalStatus: { text: 'M' },
      },
    })
  ).body.id;
});
afterAll(async () => {
  await server.close();
});

describe('formats', () => {
  test('application/json and application/fhir+json are accepted; _format and _pretty work', async () => {
    const asJson = await fhirFetch(server, 'Patient', {
      body: { resourceType: 'Patient' },
      headers: { 'Content-Type': 'application/json' },
    });
    expect(asJson.status).toBe(201);
    const r = await fhirFetch(server, `Patient/${id}?_format=json&_pretty=true`);
    expect(r.headers.get('content-type')).toContain('application/fhir+json');
    expect(r.text).toContain('\n  "resourceType"');
    const accept = await fhirFetch(server, `Patient/${id}`, { headers: { Accept: 'application/json' } });
    expect(accept.headers.get('content-type')).toContain('application/json');
  });

  test('XML is answered with 406 (response) and 415 (request) OperationOutcomes', async () => {
    const a = await fhirFetch(server, `Patient/${id}?_format=xml`);
    expect(a.status).toBe(406);
    expect(a.body.resourceType).toBe('OperationOutcome');
    const b = await fhirFetch(server, `Patient/${id}`, { headers: { Accept: 'application/fhir+xml' } });
    expect(b.status).toBe(406);
    const c = await fhirFetch(server, 'Patient', {
      body: '<Patient xmlns="http://hl7.org/fhir"/>',
      headers: { 'Content-Type': 'application/fhir+xml' },
    });
    expect(c.status).toBe(415);
    expect(c.body.resourceType).toBe('OperationOutcome');
  });

  test('a JSON body without a JSON Content-Type is 415 naming the accepted media types', async () => {
    const json = JSON.stringify({ resourceType: 'Patient', gender: 'female' });
    // curl -d without -H sends application/x-www-form-urlencoded; fetch of bytes sends no type at all.
    for (const [headers, body] of [
      [{ 'Content-Type': 'application/x-www-form-urlencoded' }, json],
      [{}, new TextEncoder().encode(json)],
    ] as const) {
      const res = await fetch(`${server.fhirBase}/Patient`, { method: 'POST', headers, body });
      expect(res.status).toBe(415);
      const outcome = (await res.json()) as { resourceType: string; issue: { diagnostics: string }[] };
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0]?.diagnostics).toMatch(/application\/fhir\+json, application\/json$/);
    }
    const patch = await fetch(`${server.fhirBase}/Patient/${id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'text/plain' },
      body: '[]',
    });
    expect(patch.status).toBe(415);
    expect(await patch.text()).toContain('application/json-patch+json');
  });

  test('_summary and _elements subset the resource and tag it SUBSETTED', async () => {
    const summary = await fhirFetch(server, `Patient/${id}?_summary=true`);
    expect(summary.body.name).toBeDefined();
    expect(summary.body.text).toBeUndefined();
    expect(summary.body.maritalStatus).toBeUndefined();
    expect(summary.body.meta.tag[0].code).toBe('SUBSETTED');
    const text = await fhirFetch(server, `Patient/${id}?_summary=text`);
    expect(text.body.text).toBeDefined();
    expect(text.body.name).toBeUndefined();
    const data = await fhirFetch(server, `Patient/${id}?_summary=data`);
    expect(data.body.text).toBeUndefined();
    expect(data.body.maritalStatus).toBeDefined();
    const elements = await fhirFetch(server, `Patient?_id=${id}&_elements=gender`);
    const res = elements.body.entry[0].resource;
    expect(res.gender).toBe('female');
    expect(res.name).toBeUndefined();
    expect(res.id).toBe(id);
  });

  test('_elements names choice elements by their base name: effective keeps effectiveDateTime', async () => {
    const obs = await fhirFetch(server, 'Observation', {
      body: {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'Potassium' },
        effectiveDateTime: '2024-03-01',
        _effectiveDateTime: { extension: [{ url: 'urn:x', valueString: 'y' }] },
        valueQuantity: { value: 4.1 },
        issued: '2024-03-01T10:00:00Z',
      },
    });
    const read = await fhirFetch(server, `Observation/${obs.body.id}?_elements=effective,value`);
    expect(read.body.effectiveDateTime).toBe('2024-03-01');
    expect(read.body._effectiveDateTime).toBeDefined();
    expect(read.body.valueQuantity).toEqual({ value: 4.1 });
    expect(read.body.issued).toBeUndefined();
    const suffixed = await fhirFetch(server, `Observation/${obs.body.id}?_elements=effective[x]`);
    expect(suffixed.body.effectiveDateTime).toBe('2024-03-01');
    expect(suffixed.body.valueQuantity).toBeUndefined();
  });

  test('Prefer: return=minimal | representation | OperationOutcome', async () => {
    const minimal = await fhirFetch(server, 'Patient', {
      body: { resourceType: 'Patient' },
      headers: { Prefer: 'return=minimal' },
    });
    expect(minimal.status).toBe(201);
    expect(minimal.text).toBe('');
    expect(minimal.headers.get('location')).toMatch(/\/Patient\/[\w-]+\/_history\/1$/);
    const oo = await fhirFetch(server, 'Patient', {
      body: { resourceType: 'Patient' },
      headers: { Prefer: 'return=OperationOutcome' },
    });
    expect(oo.body.resourceType).toBe('OperationOutcome');
    const rep = await fhirFetch(server, 'Patient', {
      body: { resourceType: 'Patient' },
      headers: { Prefer: 'return=representation' },
    });
    expect(rep.body.resourceType).toBe('Patient');
  });

  test('CapabilityStatement lists every type, interaction and search parameter that exists', async () => {
    const cs = await fhirFetch(server, 'metadata');
    expect(cs.body.resourceType).toBe('CapabilityStatement');
    expect(cs.body.fhirVersion).toBe('4.0.1');
    const resources = cs.body.rest[0].resource as {
      type: string;
      interaction: { code: string }[];
      searchParam: { name: string }[];
    }[];
    expect(resources.length).toBeGreaterThan(140);
    const obs = resources.find((r) => r.type === 'Observation');
    expect(obs?.interaction.map((i) => i.code)).toEqual(
      expect.arrayContaining([
        'read',
        'vread',
        'update',
        'patch',
        'delete',
        'create',
        'search-type',
        'history-instance',
      ]),
    );
    expect(obs?.searchParam.map((p) => p.name)).toEqual(
      expect.arrayContaining(['code', 'subject', 'date', 'value-quantity', '_id', '_lastUpdated']),
    );
    // Composite parameters are not indexed yet and so are not advertised.
    expect(obs?.searchParam.map((p) => p.name)).not.toContain('code-value-quantity');
  });
});

test('the CapabilityStatement lists every routed operation, and every listed operation is routed', async () => {
  const cs = (await fhirFetch(server, 'metadata')).body as CapabilityStatement;
  const rest = cs.rest?.[0];
  const listed = new Set<string>([
    ...(rest?.operation ?? []).map((o) => `system $${o.name}`),
    ...(rest?.resource ?? []).flatMap((r) => (r.operation ?? []).map((o) => `${r.type} $${o.name}`)),
  ]);
  for (const o of [...(rest?.operation ?? []), ...(rest?.resource ?? []).flatMap((r) => r.operation ?? [])])
    expect(o.definition).toMatch(
      /^(http:\/\/hl7\.org\/fhir\/|urn:fhir-dicomweb-server:)OperationDefinition\/[\w-]+$/,
    );
  expect([...listed]).toEqual(
    expect.arrayContaining([
      'system $deidentify',
      'system $deidentify-text',
      'Patient $deidentify',
      'Composition $document',
      'Observation $validate',
    ]),
  );
  // The async pattern is documented on the operations that offer it.
  const deid = rest?.operation?.find((o) => o.name === 'deidentify');
  expect(deid?.documentation).toContain('/_async/');

  // Routed = the server does not answer "Unknown operation"; probed by name, level and type.
  const names = [
    ...new Set([...Object.keys(OPERATIONS), ...[...listed].map((l) => l.split('$')[1] ?? ''), 'nope']),
  ];
  const unknown = async (path: string, method: string): Promise<boolean> => {
    const res = await fhirFetch(server, path, { method, ...(method === 'POST' && { body: {} }) });
    return res.status === 404 && /Unknown operation/.test(JSON.stringify(res.body));
  };
  for (const name of names) {
    const system = !(await unknown(`$${name}`, 'POST'));
    expect([`system $${name}`, system]).toEqual([`system $${name}`, listed.has(`system $${name}`)]);
    for (const type of ['Patient', 'Observation', 'Composition', 'Binary', 'Bundle']) {
      const routed =
        !(await unknown(`${type}/$${name}`, 'GET')) || !(await unknown(`${type}/x/$${name}`, 'GET'));
      expect([`${type} $${name}`, routed]).toEqual([`${type} $${name}`, listed.has(`${type} $${name}`)]);
    }
  }
});

describe('bad input never crashes', () => {
  const send = (
    path: string,
    body: string,
    method = 'POST',
    contentType = 'application/fhir+json',
  ): Promise<Response> =>
    fetch(`${server.fhirBase}/${path}`, { method, headers: { 'Content-Type': contentType }, body });

  test.each([
    ['malformed JSON', 'Patient', '{"resourceType": "Patient",', 'POST', 400],
    ['empty body', 'Patient', '', 'POST', 400],
    ['JSON array body', 'Patient', '[1,2]', 'POST', 400],
    ['type mismatch', 'Patient', '{"resourceType":"Observation"}', 'POST', 400],
    ['missing resourceType', 'Patient', '{"gender":"male"}', 'POST', 400],
    ['id mismatch on update', 'Patient/abc', '{"resourceType":"Patient","id":"xyz"}', 'PUT', 400],
    ['missing id on update', 'Patient/abc', '{"resourceType":"Patient"}', 'PUT', 400],
    ['invalid id', 'Patient/bad$id', '{"resourceType":"Patient","id":"bad$id"}', 'PUT', 400],
    ['unknown type', 'Spaceship', '{"resourceType":"Spaceship"}', 'POST', 404],
    ['unsupported media type', 'Patient', 'name=x', 'POST', 415],
    ['method not allowed', 'Patient/_history', '', 'DELETE', 405],
    [
      'deep nesting',
      'Patient',
      '{"resourceType":"Patient","extension":' + '['.repeat(5000) + ']'.repeat(5000) + '}',
      'POST',
      400,
    ],
    [
      'huge array',
      'Patient',
      '{"resourceType":"Patient","name":[' + Array(150_001).fill('1').join(',') + ']}',
      'POST',
      413,
    ],
  ])('%s', async (_name, path, body, method, status) => {
    const res = await send(
      path,
      body,
      method,
      _name === 'unsupported media type' ? 'text/plain' : 'application/fhir+json',
    );
    expect(res.status).toBe(status);
    const json = (await res.json()) as { resourceType: string };
    expect(json.resourceType).toBe('OperationOutcome');
  });

  test('body over the configured limit is 413', async () => {
    const big = JSON.stringify({ resourceType: 'Patient', name: [{ text: 'x'.repeat(300_000) }] });
    const res = await send('Patient', big);
    expect(res.status).toBe(413);
  });

  test('huge arrays under the byte limit are refused before parsing', async () => {
    const limited = await startTestServer({ maxJsonArrayItems: 1000 });
    try {
      const body = '{"resourceType":"Patient","name":[' + Array(1001).fill('{}').join(',') + ']}';
      const res = await fetch(`${limited.fhirBase}/Patient`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/fhir+json' },
        body,
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { issue: { diagnostics: string }[] }).issue[0]?.diagnostics).toContain(
        'array',
      );
    } finally {
      await limited.close();
    }
  });

  test('unknown path and unknown operation are 404 OperationOutcomes', async () => {
    expect((await fhirFetch(server, 'Patient/1/2/3/4/5')).status).toBe(404);
    expect((await fhirFetch(server, 'Patient/$nope', { body: {} })).status).toBe(404);
  });
});

describe('Binary', () => {
  test('raw bytes in, raw bytes out by content type; FHIR JSON on request', async () => {
    const bytes = Buffer.from([0x25, 0x50, 0x44, 0x46, 0x2d, 0x31, 0x00, 0xff, 0x10]);
    const created = await fetch(`${server.fhirBase}/Binary`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/pdf' },
      body: bytes,
    });
    expect(created.status).toBe(201);
    const { id: binId } = (await created.json()) as { id: string };
    const raw = await fetch(`${server.fhirBase}/Binary/${binId}`, { headers: { Accept: 'application/pdf' } });
    expect(raw.headers.get('content-type')).toBe('application/pdf');
    expect(Buffer.from(await raw.arrayBuffer())).toEqual(bytes);
    const json = await fhirFetch(server, `Binary/${binId}`, { headers: { Accept: 'application/fhir+json' } });
    expect(json.body.contentType).toBe('application/pdf');
    expect(Buffer.from(json.body.data, 'base64')).toEqual(bytes);
    // A FHIR JSON Binary with data is stored the same way.
    const viaJson = await fhirFetch(server, 'Binary', {
      body: {
        resourceType: 'Binary',
        contentType: 'text/plain',
        data: Buffer.from('hello').toString('base64'),
      },
    });
    const text = await fetch(`${server.fhirBase}/Binary/${viaJson.body.id}`, {
      headers: { Accept: 'text/plain' },
    });
    expect(await text.text()).toBe('hello');
  });
});
