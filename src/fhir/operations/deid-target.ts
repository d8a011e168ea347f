import type { Bundle, OperationOutcome, Parameters, Resource } from '@medplum/fhirtypes';
import { badRequest, buildOutcome, FhirError, peerFetch } from '../../shared';
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
    // A refusal is final; a failure of the target itself may pass, so the job is retried.
    if (res.status < 500) throw new FhirError(422, refusal(res.status, text, resources));
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

/** Most of a target's issues passed on: enough to fix a profile, not a copy of a huge outcome. */
const MAX_ISSUES = 20;

/**
 * The target's reasons, readable: each issue's own text (an invariant's human description, not
 * only its FHIRPath), the element of the copy it is about, and which copy that is (the target
 * names it by its entry in the transaction, which is the order the copies were sent in).
 */
function refusal(status: number, body: string, resources: Resource[]): OperationOutcome {
  const prefix = `The de-identification target refused the copy (HTTP ${status})`;
  let outcome: OperationOutcome | undefined;
  try {
    outcome = JSON.parse(body) as OperationOutcome;
  } catch {
    // not FHIR: the status says enough
  }
  const issues = (outcome?.resourceType === 'OperationOutcome' ? (outcome.issue ?? []) : []).slice(
    0,
    MAX_ISSUES,
  );
  if (issues.length === 0) return buildOutcome([{ code: 'processing', message: prefix }]);
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((issue) => {
      const paths = issue.expression ?? [];
      const entry = paths.map((p) => /^Bundle\.entry\[(\d+)\]$/.exec(p)?.[1]).find((i) => i !== undefined);
      const copy = entry === undefined ? undefined : resources[Number(entry)];
      const elements = paths.filter((p) => !p.startsWith('Bundle.'));
      const where = [
        elements.length > 0 ? `at ${elements.join(', ')}` : '',
        copy ? `of ${copy.resourceType}/${copy.id ?? ''}` : '',
      ].filter(Boolean);
      const human = `${prefix}: ${issue.details?.text ?? issue.diagnostics ?? 'refused'}${where.length > 0 ? ` (${where.join(' ')})` : ''}`;
      return {
        severity: issue.severity === 'fatal' ? 'fatal' : 'error',
        code: 'processing',
        details: { text: human },
        // An invariant's FHIRPath is for whoever fixes the profile: after the text, not instead.
        diagnostics:
          issue.diagnostics && issue.diagnostics !== issue.details?.text
            ? `${human}: ${issue.diagnostics}`
            : human,
        ...(elements.length > 0 && { expression: elements }),
      };
    }),
  };
}
