import { randomUUID } from 'node:crypto';
import type { Bundle, Parameters, Resource } from '@medplum/fhirtypes';
import { recordDeidentification } from '../../audit';
import type { DeidProfile } from '../../deid';
import { ChangeLog, deidentifyResource } from '../../deid';
import { badRequest, FhirError, stableUuid } from '../../shared';
import { collectLocalReferences, findReferrers } from '../../storage';
import { PIPELINE_SYSTEM } from '../../pipeline';
import type { FhirDeps, FhirRequest, FhirResponse } from '../types';
import { targetOf, writeToTarget } from './deid-target';

/** Most resources one compartment export carries; larger exports belong to the pipeline. */
const MAX_COMPARTMENT = 10_000;
const TRAIL = new Set(['AuditEvent', 'Provenance']);

/** The pipeline's Tasks are the server's bookkeeping; what the runs produced is exported. */
function isPipelineTask(r: Resource): boolean {
  return r.resourceType === 'Task' && (r.code?.coding ?? []).some((c) => c.system === PIPELINE_SYSTEM);
}

/**
 * Adds what the exported resources reference, and what that references, as $everything does:
 * the compartment's Devices, Practitioners, Organizations. A target that checks references, as
 * this server does, refuses copies that point nowhere. Attachment URLs are not followed (the
 * attachments go), nor references to the server's own trail.
 */
async function addReferenced(sources: Resource[], req: FhirRequest, deps: FhirDeps): Promise<void> {
  const have = new Set(sources.map((r) => `${r.resourceType}/${r.id ?? ''}`));
  for (let n = 0; n < sources.length; n++) {
    for (const ref of collectLocalReferences(sources[n] as Resource, deps.fhirBase)) {
      const key = `${ref.targetType}/${ref.targetId}`;
      if (have.has(key) || ref.path.endsWith('.url') || TRAIL.has(ref.targetType)) continue;
      have.add(key);
      if (sources.length >= MAX_COMPARTMENT) throw tooMany();
      const found = await deps.repo.read(req.access, ref.targetType, ref.targetId).catch((err: unknown) => {
        // A version-specific reference may name a resource deleted since: it stays unresolved.
        if (err instanceof FhirError && (err.status === 404 || err.status === 410)) return undefined;
        throw err;
      });
      if (found && !isPipelineTask(found)) sources.push(found);
    }
  }
}

const tooMany = (): FhirError =>
  new FhirError(422, {
    code: 'too-costly',
    message: `The export would hold more than ${MAX_COMPARTMENT} resources`,
  });

async function profileOf(req: FhirRequest, deps: FhirDeps): Promise<DeidProfile> {
  const body = req.body as Parameters | undefined;
  const index =
    body?.resourceType === 'Parameters' ? (body.parameter ?? []).findIndex((p) => p.name === 'profile') : -1;
  const name =
    index >= 0
      ? ((body as Parameters).parameter?.[index]?.valueString ?? '')
      : req.query.find(([k]) => k === 'profile')?.[1];
  return deps.deidProfiles.resolve(
    req.access,
    name,
    index >= 0 ? `Parameters.parameter[${index}].valueString` : 'profile',
  );
}

/**
 * $deidentify: on an instance, its de-identified copy; on a Patient, the patient and every
 * resource that references it, as a collection Bundle; at system level, a posted Bundle (or
 * Parameters.resource). Ids become pseudonyms, so references inside the output still resolve.
 * Nothing is stored; the run is audited with its change log.
 */
export async function deidentifyOperation(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const pseudonyms = deps.pseudonyms;
  const profile = await profileOf(req, deps);
  const engine = { pseudonyms, text: deps.deid };
  const log = new ChangeLog();
  const { type, id } = req.params ?? {};
  let sources: Resource[];
  let bundleType: Bundle['type'] | undefined;
  if (type && id) {
    const resource = await deps.repo.read(req.access, type, id);
    sources = [resource];
    if (type === 'Patient') {
      const referrers = await findReferrers(await deps.repo.reader(), 'Patient', id, MAX_COMPARTMENT + 1);
      if (referrers.length > MAX_COMPARTMENT) throw tooMany();
      for (const ref of referrers) {
        const [t, i] = ref.split('/') as [string, string];
        // The server's own records of who did what are not the patient's data to export.
        if (TRAIL.has(t)) continue;
        const referrer = await deps.repo.read(req.access, t, i);
        if (!isPipelineTask(referrer)) sources.push(referrer);
      }
      await addReferenced(sources, req, deps);
      bundleType = 'collection';
    }
  } else {
    const body = req.body as Resource | undefined;
    const input =
      body?.resourceType === 'Parameters'
        ? (body.parameter ?? []).find((p) => p.name === 'resource')?.resource
        : body;
    if (input?.resourceType !== 'Bundle')
      throw badRequest('Post a Bundle, or Parameters with a resource', 'Bundle');
    sources = (input.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
    bundleType = input.type;
  }
  const target = targetOf(req, deps);
  const outputs: Resource[] = [];
  for (const r of sources) outputs.push(await deidentifyResource(r, profile, engine, log));
  const locations = target ? await writeToTarget(target.base, outputs) : [];
  const runId = randomUUID();
  const runIdentifier = { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${runId}` };
  const single = !bundleType && outputs[0];
  const trace = await recordDeidentification(deps.repo, req.access, deps.clock, {
    kind: 'fhir',
    profile: `${profile.name} ${profile.version}`,
    // What the Provenance points at: the written copies, or the answer itself, which is not
    // stored: the Bundle by its identifier, a single resource by what it is.
    targets: target
      ? locations.map((reference) => ({ reference }))
      : single
        ? [
            {
              type: single.resourceType,
              display: `${single.resourceType}/${single.id ?? ''}, returned, not stored`,
            },
          ]
        : [{ type: 'Bundle', identifier: runIdentifier }],
    sources: type && id ? sources.map((r) => ({ reference: `${r.resourceType}/${r.id ?? ''}` })) : [],
    changeLog: log.entries(),
  });
  if (target) {
    const result: Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'target', valueString: target.name },
        { name: 'count', valueInteger: locations.length },
        { name: 'provenance', valueReference: { reference: `Provenance/${trace.provenance ?? ''}` } },
        ...locations.map((valueUri) => ({ name: 'location', valueUri })),
      ],
    };
    return { status: 200, body: result };
  }
  if (single) return { status: 200, body: single };
  const bundle: Bundle = {
    resourceType: 'Bundle',
    identifier: runIdentifier,
    type: !bundleType || bundleType === 'transaction' || bundleType === 'batch' ? 'collection' : bundleType,
    entry: outputs.map((resource) => ({
      // Entries need absolute fullUrls and the copies have no home: a stable urn:uuid each.
      fullUrl: `urn:uuid:${stableUuid(`${resource.resourceType}/${resource.id ?? ''}`)}`,
      resource,
    })),
  };
  return { status: 200, body: bundle };
}
