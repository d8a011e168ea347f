import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { recordDeidentification } from '../../audit';
import { ChangeLog } from '../../deid';
import { badRequest, FhirError } from '../../shared';
import type { FhirDeps, FhirRequest, FhirResponse } from '../types';

/** Longest text accepted in one call (characters); longer documents go through the pipeline. */
const MAX_TEXT = 1_000_000;

/**
 * $deidentify-text (system level, POST only so the text never lands in a URL or an access log):
 * a Parameters with `text` and an optional `profile`; answers the de-identified text and one
 * `entity` per finding with its type, offsets in the input and replacement, never the value.
 */
export async function deidentifyTextOperation(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const body = req.body as Parameters | undefined;
  if (body?.resourceType !== 'Parameters')
    throw badRequest('The body must be a Parameters resource', 'Parameters');
  const params = body.parameter ?? [];
  const textIndex = params.findIndex((p) => p.name === 'text');
  const text = params[textIndex]?.valueString;
  if (typeof text !== 'string')
    throw badRequest(
      'Parameter text (valueString) is required',
      textIndex < 0 ? 'Parameters.parameter' : `Parameters.parameter[${textIndex}].valueString`,
    );
  if (text.length > MAX_TEXT)
    throw new FhirError(413, {
      code: 'too-costly',
      message: `text is longer than ${MAX_TEXT} characters`,
      expression: `Parameters.parameter[${textIndex}].valueString`,
    });
  const profileIndex = params.findIndex((p) => p.name === 'profile');
  const profile = await deps.deidProfiles.resolve(
    req.access,
    profileIndex < 0 ? undefined : (params[profileIndex]?.valueString ?? ''),
    `Parameters.parameter[${profileIndex}].valueString`,
  );
  const result = await deps.deid.deidentify(text, { replacement: profile.text.replacement });
  // The text is not stored: the Provenance names the answer by a run id the answer carries, and
  // its change log counts what was replaced, by type.
  const run = `urn:uuid:${randomUUID()}`;
  const byType = new ChangeLog();
  for (const e of result.entities) byType.note(e.type, 'replace');
  const trace = await recordDeidentification(deps.repo, req.access, deps.clock, {
    kind: 'text',
    profile: `${profile.name} ${profile.version}`,
    targets: [
      {
        identifier: { system: 'urn:ietf:rfc:3986', value: run },
        display: 'de-identified text, returned and not stored',
      },
    ],
    sources: [],
    changeLog: byType.entries(),
  });
  const entities: ParametersParameter[] = result.entities.map((e) => ({
    name: 'entity',
    part: [
      { name: 'type', valueCode: e.type },
      { name: 'start', valueInteger: e.start },
      { name: 'end', valueInteger: e.end },
      { name: 'replacement', valueString: e.replacement },
    ],
  }));
  return {
    status: 200,
    body: {
      resourceType: 'Parameters',
      parameter: [
        { name: 'text', valueString: result.text },
        { name: 'profile', valueString: `${profile.name}|${profile.version}` },
        { name: 'run', valueUri: run },
        { name: 'provenance', valueReference: { reference: `Provenance/${trace.provenance ?? ''}` } },
        ...entities,
      ],
    },
  };
}
