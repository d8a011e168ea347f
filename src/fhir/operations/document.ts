import type {
  Bundle,
  BundleEntry,
  Composition,
  CompositionSection,
  Reference,
  Resource,
} from '@medplum/fhirtypes';
import { badRequest, stableUuid } from '../../shared';
import { parseLocalReference } from '../../storage';
import type { FhirDeps, FhirRequest, FhirResponse } from '../types';

function sectionRefs(sections: CompositionSection[] | undefined): Reference[] {
  return (sections ?? []).flatMap((s) => [
    ...(s.entry ?? []),
    ...(s.author ?? []),
    ...sectionRefs(s.section),
  ]);
}

/**
 * Composition/{id}/$document: the FHIR document Bundle, the Composition first, then its subject,
 * encounter, authors, attesters, custodian and every resource a section entry references, each
 * once (version-specific references resolved to that version).
 */
export async function documentOperation(req: FhirRequest, deps: FhirDeps): Promise<FhirResponse> {
  const { type, id } = req.params ?? {};
  if (type !== 'Composition' || !id) throw badRequest('$document is an operation on a Composition instance');
  const composition = await deps.repo.read<Composition>(req.access, 'Composition', id);
  const refs: Reference[] = [
    ...(composition.subject ? [composition.subject] : []),
    ...(composition.encounter ? [composition.encounter] : []),
    ...composition.author,
    ...(composition.attester ?? []).flatMap((a) => (a.party ? [a.party] : [])),
    ...(composition.custodian ? [composition.custodian] : []),
    ...sectionRefs(composition.section),
  ];
  const entries: BundleEntry[] = [{ fullUrl: `${deps.fhirBase}/Composition/${id}`, resource: composition }];
  const seen = new Set<string>([`Composition/${id}`]);
  for (const r of refs) {
    const target = parseLocalReference(r.reference ?? '', deps.fhirBase);
    if (!target) continue;
    const { type: t, id: i, versionId: v } = target;
    const key = v ? `${t}/${i}/_history/${v}` : `${t}/${i}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const resource: Resource = v
      ? await deps.repo.vread(req.access, t, i, v)
      : await deps.repo.read(req.access, t, i);
    entries.push({ fullUrl: `${deps.fhirBase}/${key}`, resource });
  }
  const bundle: Bundle = {
    resourceType: 'Bundle',
    identifier: {
      system: 'urn:ietf:rfc:3986',
      value: `urn:uuid:${stableUuid(`document|Composition/${id}/_history/${composition.meta?.versionId ?? ''}`)}`,
    },
    type: 'document',
    timestamp: deps.clock.now().toISOString(),
    entry: entries,
  };
  return { status: 200, body: bundle };
}
