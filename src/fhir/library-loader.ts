import type { Library } from '@medplum/fhirtypes';
import type { SearchParamRegistry } from '../search';
import { executeSearch, parseSearch } from '../search';
import type { AccessContext, Clock } from '../shared';
import type { Repository } from '../storage';

/**
 * Finds a Library by `Library/{id}` or by canonical URL (`url` or `url|version`; without a
 * version, the most recently updated), for capabilities that keep their configuration in
 * Library resources (de-identification profiles).
 */
export function createLibraryLoader(
  repo: Repository,
  registry: SearchParamRegistry,
  clock: Clock,
  fhirBase: string,
): (access: AccessContext, ref: string) => Promise<Library | undefined> {
  return async (access, ref) => {
    const local = /^Library\/([A-Za-z0-9.-]{1,64})$/.exec(ref);
    if (local) {
      const stored = await repo.readStored(access, 'Library', local[1] ?? '');
      return stored?.content ? (JSON.parse(stored.content) as Library) : undefined;
    }
    const [url = '', version] = ref.split('|');
    repo.assertRead(access, 'Library');
    const query = parseSearch(
      'Library',
      [
        ['url', url],
        ...(version ? [['version', version] as [string, string]] : []),
        ['_sort', '-_lastUpdated'],
      ],
      registry,
      { strict: true, defaultCount: 1, maxCount: 1 },
    );
    const page = await executeSearch(await repo.reader(), query, { fhirBase, now: clock.now() });
    const content = page.contents[0];
    return content ? (JSON.parse(content) as Library) : undefined;
  };
}
