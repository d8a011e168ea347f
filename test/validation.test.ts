import type { TestServer } from './helpers/server';
import { fhirFetch, startTestServer } from './helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

const expressions = (body: { issue: { expression?: string[] }[] }): string[] =>
  body.issue.flatMap((i) => i.expression ?? []);

test('validation errors name the element: type, cardinality, unknown element, binding, invariant', async () => {
  const cases: [unknown, string][] = [
    [{ resourceType: 'Patient', birthDate: 'yesterday' }, 'Patient.birthDate'],
    [{ resourceType: 'Patient', gender: 'robot' }, 'Patient.gender'],
    [{ resourceType: 'Patient', favouriteColour: 'blue' }, 'Patient.favouriteColour'],
    [{ resourceType: 'Observation', status: 'final' }, 'Observation.code'],
    [{ resourceType: 'Patient', contact: [{ gender: 'male' }] }, 'Patient.contact[0]'],
    [{ resourceType: 'Patient', name: { family: 'NotAnArray' } }, 'Patient.name'],
    [
      { resourceType: 'Patient', telecom: [{ system: 'pager-ish', value: '1' }] },
      'Patient.telecom[0].system',
    ],
  ];
  for (const [body, expression] of cases) {
    const res = await fhirFetch(server, (body as { resourceType: string }).resourceType, { body });
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(expressions(res.body)).toContain(expression);
  }
});

test('profiles in meta.profile that the server knows are enforced (US Core Patient)', async () => {
  const profile = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';
  const bad = await fhirFetch(server, 'Patient', {
    body: { resourceType: 'Patient', meta: { profile: [profile] }, gender: 'male' },
  });
  expect(bad.status).toBe(400);
  expect(
    expressions(bad.body).some((e) => e.startsWith('Patient.identifier') || e.startsWith('Patient.name')),
  ).toBe(true);
  const good = await fhirFetch(server, 'Patient', {
    body: {
      resourceType: 'Patient',
      meta: { profile: [profile] },
      gender: 'male',
      identifier: [{ system: 'urn:mrn', value: '1' }],
      name: [{ family: 'Core' }],
    },
  });
  expect(good.status).toBe(201);
  // An unknown profile is not an error on write.
  const unknown = await fhirFetch(server, 'Patient', {
    body: { resourceType: 'Patient', meta: { profile: ['http://example.org/unknown'] } },
  });
  expect(unknown.status).toBe(201);
});

test('$validate at type and instance level', async () => {
  const typeLevel = await fhirFetch(server, 'Patient/$validate', {
    body: { resourceType: 'Patient', gender: 'robot' },
  });
  expect(typeLevel.status).toBe(200);
  expect(typeLevel.body.resourceType).toBe('OperationOutcome');
  expect(expressions(typeLevel.body)).toContain('Patient.gender');
  const params = await fhirFetch(server, 'Patient/$validate', {
    body: {
      resourceType: 'Parameters',
      parameter: [{ name: 'resource', resource: { resourceType: 'Patient', active: true } }],
    },
  });
  expect(params.body.issue[0].severity).toBe('information');
  const created = await fhirFetch(server, 'Patient', { body: { resourceType: 'Patient' } });
  const instance = await fhirFetch(server, `Patient/${created.body.id}/$validate`);
  expect(instance.status).toBe(200);
  expect(instance.body.issue[0].severity).toBe('information');
  const withProfile = await fhirFetch(
    server,
    `Patient/${created.body.id}/$validate?profile=http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient`,
  );
  expect(withProfile.body.issue.some((i: { severity: string }) => i.severity === 'error')).toBe(true);
});

test('referential integrity: missing target rejected, referenced resource cannot be deleted', async () => {
  const dangling = await fhirFetch(server, 'Observation', {
    body: {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: 'Patient/ghost' },
    },
  });
  expect(dangling.status).toBe(400);
  expect(expressions(dangling.body)).toContain('Observation.subject');
  const patient = await fhirFetch(server, 'Patient', { body: { resourceType: 'Patient' } });
  const obs = await fhirFetch(server, 'Observation', {
    body: {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: `Patient/${patient.body.id}` },
    },
  });
  expect(obs.status).toBe(201);
  const del = await fhirFetch(server, `Patient/${patient.body.id}`, { method: 'DELETE' });
  expect(del.status).toBe(409);
  expect(del.body.issue[0].diagnostics).toContain(`Observation/${obs.body.id}`);
  const check = await fhirFetch(server, `Patient/${patient.body.id}/$validate?mode=delete`);
  expect(check.body.issue[0].severity).toBe('error');
  // Once the referrer is gone the delete succeeds.
  expect((await fhirFetch(server, `Observation/${obs.body.id}`, { method: 'DELETE' })).status).toBe(200);
  expect((await fhirFetch(server, `Patient/${patient.body.id}`, { method: 'DELETE' })).status).toBe(200);
});

test('referential integrity can be switched off', async () => {
  const loose = await startTestServer({ referentialIntegrity: false });
  try {
    const res = await fhirFetch(loose, 'Observation', {
      body: {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'x' },
        subject: { reference: 'Patient/ghost' },
      },
    });
    expect(res.status).toBe(201);
  } finally {
    await loose.close();
  }
});
