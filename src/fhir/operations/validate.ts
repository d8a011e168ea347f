import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { badRequest } from '../../shared';
import { findReferrers } from '../../storage';
import type { FhirDeps, FhirRequest, FhirResponse } from '../types';

/**
 * $validate at type and instance level (R4 Resource-validate). Answers 200 with an
 * OperationOutcome listing every issue; mode=delete checks whether a delete would be refused.
 */
export async function validateOperation(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const type = req.params?.type ?? '';
  const id = req.params?.id;
  let resource: Resource | undefined;
  let mode: string | undefined = req.query.find(([k]) => k === 'mode')?.[1];
  let profile: string | undefined = req.query.find(([k]) => k === 'profile')?.[1];
  const body = req.body as Resource | undefined;
  if (body?.resourceType === 'Parameters') {
    for (const p of body.parameter ?? []) {
      if (p.name === 'resource') resource = p.resource;
      if (p.name === 'mode') mode = p.valueCode ?? p.valueString;
      if (p.name === 'profile') profile = p.valueUri ?? p.valueCanonical ?? p.valueString;
    }
  } else if (body) {
    resource = body;
  }
  if (mode === 'delete') {
    if (!id) throw badRequest('mode=delete needs an instance');
    const referrers = await findReferrers(await deps.repo.reader(), type, id, 20);
    const outcome: OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: referrers.length
        ? referrers.map((r) => ({
            severity: 'error' as const,
            code: 'conflict' as const,
            diagnostics: `Referenced by ${r}`,
          }))
        : [{ severity: 'information', code: 'informational', diagnostics: 'Delete would be allowed' }],
    };
    return { status: 200, body: outcome };
  }
  if (!resource && id) resource = await deps.repo.read(req.access, type, id);
  if (!resource) throw badRequest('$validate needs a resource in the body or an instance');
  if (resource.resourceType !== type)
    throw badRequest(`Resource type '${resource.resourceType}' does not match '${type}'`, 'resourceType');
  const issues = await deps.validator.validate(resource, deps.repo, profile);
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: issues.length
      ? issues
      : [{ severity: 'information', code: 'informational', diagnostics: 'Validation successful' }],
  };
  return { status: 200, body: outcome };
}
