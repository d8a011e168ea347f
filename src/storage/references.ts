import type { Executor } from './database';

/** Live resources whose stored references point at type/id ("Type/id" strings). */
export async function findReferrers(
  exec: Executor,
  type: string,
  id: string,
  limit: number,
): Promise<string[]> {
  const rows = (await exec('resource_reference as rr')
    .join('resource as r', function () {
      this.on('r.resource_type', '=', 'rr.src_type').andOn('r.id', '=', 'rr.src_id');
    })
    .where({ 'rr.target_type': type, 'rr.target_id': id, 'r.deleted': false })
    .distinct('rr.src_type', 'rr.src_id')
    .limit(limit)) as { src_type: string; src_id: string }[];
  return rows.map((r) => `${r.src_type}/${r.src_id}`);
}

export interface LocalReference {
  targetType: string;
  targetId: string;
  /** Dotted element path of the Reference, e.g. "Observation.subject". */
  path: string;
  /** "Type/id/_history/n": it names a version, which stays readable after the resource is deleted. */
  versioned: boolean;
}

const LOCAL_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;

/** Parses "Type/id", "Type/id/_history/n" or an absolute URL under this server's FHIR base. */
export function parseLocalReference(
  reference: string,
  fhirBase: string,
): { type: string; id: string; versionId?: string } | undefined {
  let rel = reference;
  if (rel.startsWith(fhirBase + '/')) rel = rel.slice(fhirBase.length + 1);
  const m = LOCAL_REF.exec(rel);
  return m?.[1] && m[2] ? { type: m[1], id: m[2], ...(m[3] && { versionId: m[3] }) } : undefined;
}

/**
 * Every local literal reference anywhere in a resource, contained resources excluded, and every
 * attachment `url` naming a Binary on this server: a report's PDF kept as a Binary is part of it,
 * so the Binary cannot be deleted under it and a new version of it is found from the report.
 */
export function collectLocalReferences(resource: object, fhirBase: string): LocalReference[] {
  const out: LocalReference[] = [];
  const rootType = (resource as { resourceType?: string }).resourceType ?? 'Resource';
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item, path);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (key === 'contained') continue;
      if (key === 'reference' && typeof value === 'string') {
        const parsed = parseLocalReference(value, fhirBase);
        if (parsed)
          out.push({
            targetType: parsed.type,
            targetId: parsed.id,
            path,
            versioned: parsed.versionId !== undefined,
          });
      } else if (key === 'url' && typeof value === 'string' && /(^|\/)Binary\/[^/]+$/.test(value)) {
        const parsed = parseLocalReference(value, fhirBase);
        if (parsed?.type === 'Binary')
          out.push({ targetType: 'Binary', targetId: parsed.id, path: `${path}.url`, versioned: false });
      } else if (typeof value === 'object' && value !== null) {
        walk(value, `${path}.${key}`);
      }
    }
  };
  walk(resource, rootType);
  return out;
}
