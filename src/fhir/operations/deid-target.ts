import type { Bundle, OperationOutcome, Parameters, Resource } from '@medplum/fhirtypes';
import { badRequest, FhirError, peerFetch } from '../../shared';
import type { FhirDeps, FhirRequest } from '../types';

/**
 * The configured target a request names in its `target` parameter (valueString: a DEID_TARGETS
 * name, or valueUrl: one of their base URLs), or undefined when it names none. Nothing else is
 * ever written to, so a request cannot make the server send data to a URL of its choosing.
 */
export function targetOf(req: FhirRequest, deps: FhirDeps): { name: string; base: string } | undefined {
  const body = req.body as Parameters | undefined;
  const params = body?.resourceType === 'Parameters' ? (body.parameter ?? []) : [];
  const index = params.findIndex((p) => p.name === 'target');
  const fromQuery = req.query.find(([k]) => k === 'target')?.[1];
  if (index < 0 && fromQuery === undefined) return undefined;
  const value = index >= 0 ? (params[index]?.valueString ?? params[index]?.valueUrl) : fromQuery;
  const targets = deps.config.deidTargets;
  const match = Object.entries(targets).find(([name, url]) => value === name || value === url);
  if (!match)
    throw badRequest(
      `Unknown de-identification target; configured (DEID_TARGETS): ${Object.keys(targets).join(', ') || 'none'}`,
      index >= 0 ? `Parameters.parameter[${index}]` : 'target',
    );
  return { name: match[0], base: match[1] };
}

/**
 * Writes the copies to the target in one transaction of PUTs under their pseudonymous ids: all
 * or nothing there, and a retried run updates what an earlier attempt wrote instead of adding
 * to it. Returns each written version's absolute URL.
 */
export async function writeToTarget(base: string, resources: Resource[]): Promise<string[]> {
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: resources.map((resource) => ({
      fullUrl: `${base}/${resource.resourceType}/${resource.id ?? ''}`,
      resource,
      request: { method: 'PUT', url: `${resource.resourceType}/${resource.id ?? ''}` },
    })),
  };
  let res: Response;
  try {
    res = await peerFetch(base, {
      method: 'POST',
      headers: { 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' },
      body: JSON.stringify(bundle),
    });
  } catch {
    throw new FhirError(502, {
      code: 'transient',
      message: 'The de-identification target cannot be reached',
    });
  }
  const text = await res.text();
  if (!res.ok) {
    let detail = '';
    try {
      detail = (JSON.parse(text) as OperationOutcome).issue?.[0]?.diagnostics ?? '';
    } catch {
      // not FHIR: the status says enough
    }
    // A refusal is final; a failure of the target itself may pass, so the job is retried.
    if (res.status < 500)
      throw new FhirError(422, {
        code: 'processing',
        message: `The de-identification target refused the copy (HTTP ${res.status})${detail ? `: ${detail}` : ''}`,
      });
    throw new FhirError(502, {
      code: 'transient',
      message: `The de-identification target failed (HTTP ${res.status})`,
    });
  }
  const reply = JSON.parse(text) as Bundle;
  return (reply.entry ?? []).map((e, i) => {
    const location = e.response?.location ?? bundle.entry?.[i]?.request?.url ?? '';
    return /^https?:\/\//.test(location) ? location : `${base}/${location}`;
  });
}
