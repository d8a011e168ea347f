import type { Library, Patient } from '@medplum/fhirtypes';
import { parseDeidProfile, ProfileError } from '../../src/deid';
import { compileNodeSelector } from '../../src/deid/profile/fhir-path';
import { loadShippedProfiles } from '../../src/deid/profile/profile';
import { loadR4Definitions } from '../../src/shared';
import type { TestServer } from '../helpers/server';
import { fhirFetch, startTestServer } from '../helpers/server';

beforeAll(() => {
  loadR4Definitions();
});

describe('rule paths (the FHIRPath node-selector subset)', () => {
  test('select by element path, by type anywhere, by name anywhere, with ofType filters and unions', () => {
    const name = compileNodeSelector('Patient.name');
    expect(name('Patient.name', 'HumanName')).toBe(true);
    expect(name('Patient.contact.name', 'HumanName')).toBe(false);
    expect(name('Practitioner.name', 'HumanName')).toBe(false);

    const anyName = compileNodeSelector("nodesByType('HumanName')");
    expect(anyName('Patient.contact.name', 'HumanName')).toBe(true);
    expect(anyName('Patient.contact.name', 'string')).toBe(false);

    const text = compileNodeSelector("nodesByName('text').ofType(string) | Observation.value.ofType(string)");
    expect(text('Observation.code.text', 'string')).toBe(true);
    expect(text('Observation.text', 'Narrative')).toBe(false);
    expect(text('Observation.value', 'string')).toBe(true);
    expect(text('Observation.value', 'Quantity')).toBe(false);

    const deep = compileNodeSelector('Resource.descendants().display');
    expect(deep('Observation.code.coding.display', 'string')).toBe(true);
    // descendants() is strict FHIRPath: the root's own children are not below a descendant.
    expect(deep('Observation.display', 'string')).toBe(false);
  });

  test.each([
    ['Patient.nmae', /Patient has no element 'nmae'/],
    ['Patient.contact.nmae', /PatientContact has no element 'nmae'/],
    ["nodesByType('HumanNmae')", /not a FHIR R4 type/],
    ['Pateint.name', /must start with a resource type/],
    ["nodesByType('HumanName').given", /must be the last step/],
    ['Patient.name |', /empty branch/],
    ['Patient..name', /empty step/],
  ])('%s is refused', (path, message) => {
    expect(() => compileNodeSelector(path)).toThrow(message);
  });

  test('a profile is refused whole, with the JSON path of its first bad part', () => {
    const bad = (raw: unknown): ProfileError => {
      try {
        parseDeidProfile(raw, 'test');
      } catch (err) {
        if (err instanceof ProfileError) return err;
        throw err;
      }
      throw new Error('accepted');
    };
    expect(
      bad({ name: 'x', version: '1', fhir: { rules: [{ path: 'Patient.name', method: 'shred' }] } }).where,
    ).toBe('$.fhir.rules[0].method');
    expect(bad({ name: 'x', version: '1', fhir: { rules: [{ path: 'Patient.name' }] } }).where).toBe(
      '$.fhir.rules[0].method',
    );
    expect(bad({ name: 'x', version: '1', dicom: { options: ['rtnEverythingOpt'] } }).where).toBe(
      '$.dicom.options[0]',
    );
    expect(bad({ name: 'x' }).where).toBe('$.version');
    expect(bad({ name: 'x', version: '1', text: { replacement: 'lorem' } }).where).toBe('$.text.replacement');
  });

  test('the shipped profiles load, each with DICOM, FHIR and text parts', () => {
    const shipped = loadShippedProfiles();
    expect([...shipped.keys()].sort()).toEqual(['basic', 'keep-descriptions', 'research-longitudinal']);
    for (const p of shipped.values()) {
      expect(p.fhir.rules.length).toBeGreaterThan(0);
      expect(p.dicom.codes[0]?.[0]).toBe('113100');
      expect(p.source).toBe(`profiles/deid/${p.name}.json`);
    }
  });
});

describe('profiles stored as Library resources', () => {
  let server: TestServer;
  let patientId = '';

  const library = (url: string, profile: unknown): Library => ({
    resourceType: 'Library',
    url,
    version: '1',
    name: 'KeepNames',
    status: 'active',
    type: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/library-type', code: 'asset-collection' }],
    },
    content: [
      { contentType: 'application/json', data: Buffer.from(JSON.stringify(profile)).toString('base64') },
    ],
  });

  beforeAll(async () => {
    server = await startTestServer({
      deidKey: { id: 'profiles-test', secret: 'profiles-test-secret-long-enough' },
    });
    const patient: Patient = {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:mrn', value: 'MRN-90210' }],
      name: [{ family: 'Featherstonehaugh', given: ['Ottoline'] }],
      birthDate: '1961-02-03',
    };
    patientId = (await fhirFetch(server, 'Patient', { body: patient })).body.id;
  });
  afterAll(async () => {
    await server.close();
  });

  test('a stored profile is used by Library/{id} and by canonical URL, and named in the audit trail', async () => {
    const profile = {
      name: 'keep-names',
      version: '1',
      fhir: { rules: [{ path: "nodesByType('Identifier')", method: 'cryptoHash' }] },
    };
    const lib = await fhirFetch(server, 'Library', {
      body: library('https://hospital.example/deid/keep-names', profile),
    });
    expect(lib.status).toBe(201);
    for (const ref of [`Library/${lib.body.id}`, 'https://hospital.example/deid/keep-names|1']) {
      const res = await fhirFetch(
        server,
        `Patient/${patientId}/$deidentify?profile=${encodeURIComponent(ref)}`,
      );
      expect(res.status).toBe(200);
      const out = res.body.entry[0].resource as Patient;
      // Its one rule hashes identifiers and nothing else: the name and birth date stay.
      expect(out.name?.[0]?.family).toBe('Featherstonehaugh');
      expect(out.birthDate).toBe('1961-02-03');
      expect(out.identifier?.[0]?.value).not.toBe('MRN-90210');
    }
    const device = await fhirFetch(server, 'Device/deid-engine');
    expect(device.body.version[0].value).toBe('keep-names 1');
  });

  test('redact keeps only what Safe Harbor allows: the year, the state and a three-digit ZIP', async () => {
    const lib = await fhirFetch(server, 'Library', {
      body: library('https://hospital.example/deid/redact', {
        name: 'redact',
        version: '1',
        fhir: {
          rules: [
            { path: 'Patient.address | Patient.birthDate | Patient.name', method: 'redact' },
            { path: "nodesByType('Identifier')", method: 'cryptoHash' },
          ],
        },
      }),
    });
    const p = await fhirFetch(server, 'Patient', {
      body: {
        resourceType: 'Patient',
        name: [{ family: 'Abernathy-Quist' }],
        birthDate: '1944-12-24',
        address: [
          { line: ['9 Wren Lane'], city: 'Decatur', state: 'IL', postalCode: '62521', country: 'US' },
        ],
      },
    });
    const res = await fhirFetch(server, `Patient/${p.body.id}/$deidentify?profile=Library/${lib.body.id}`);
    expect(res.status).toBe(200);
    const out = res.body.entry[0].resource as Patient;
    expect(out.name).toBeUndefined();
    expect(out.birthDate).toBe('1944');
    expect(out.address).toEqual([{ state: 'IL', country: 'US', postalCode: '625**' }]);
  });

  test('a profile asking for surrogates gets realistic stand-ins in $deidentify-text', async () => {
    const lib = await fhirFetch(server, 'Library', {
      body: library('https://hospital.example/deid/surrogates', {
        name: 'surrogates',
        version: '1',
        text: { replacement: 'surrogate' },
      }),
    });
    const res = await fhirFetch(server, '$deidentify-text', {
      method: 'POST',
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'text', valueString: 'Seen by Dr. Ottoline Featherstonehaugh on 03/04/2021.' },
          { name: 'profile', valueString: `Library/${lib.body.id}` },
        ],
      },
    });
    expect(res.status).toBe(200);
    const text = res.body.parameter[0].valueString as string;
    expect(text).not.toMatch(/Featherstonehaugh|03\/04\/2021|\[NAME-1\]/);
    expect(text).toMatch(/^Seen by Dr\. [A-Z][a-z]+ [A-Z][a-z]+ on \d{2}\/\d{2}\/\d{4}\.$/);
  });

  test('an unknown or invalid stored profile is refused with where the problem is, and nothing is written', async () => {
    const audits = async (): Promise<number> =>
      (await fhirFetch(server, 'AuditEvent?_summary=count')).body.total as number;
    const before = await audits();
    const bad = await fhirFetch(server, 'Library', {
      body: library('https://hospital.example/deid/typo', {
        name: 'typo',
        version: '1',
        fhir: { rules: [{ path: 'Patient.nmae', method: 'remove' }] },
      }),
    });
    const res = await fhirFetch(server, `Patient/${patientId}/$deidentify`, {
      method: 'POST',
      body: {
        resourceType: 'Parameters',
        parameter: [{ name: 'profile', valueString: `Library/${bad.body.id}` }],
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].expression).toEqual(['Parameters.parameter[0].valueString']);
    expect(res.body.issue[0].diagnostics).toMatch(
      /\$\.fhir\.rules\[0\]\.path .*Patient has no element 'nmae'/,
    );

    const text = await fhirFetch(server, '$deidentify-text', {
      method: 'POST',
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'text', valueString: 'Seen by Dr. Ottoline Featherstonehaugh.' },
          { name: 'profile', valueString: 'https://hospital.example/deid/none' },
        ],
      },
    });
    expect(text.status).toBe(400);
    expect(text.body.issue[0].diagnostics).toMatch(/Unknown de-identification profile/);

    const notJson = await fhirFetch(server, 'Library', {
      body: {
        ...library('https://hospital.example/deid/pdf', {}),
        content: [{ contentType: 'application/pdf', data: 'JVBE' }],
      },
    });
    const pdf = await fhirFetch(
      server,
      `Patient/${patientId}/$deidentify?profile=Library/${notJson.body.id}`,
    );
    expect(pdf.status).toBe(400);
    expect(pdf.body.issue[0].diagnostics).toMatch(/no application\/json content/);
    expect(await audits()).toBe(before);
  });
});
