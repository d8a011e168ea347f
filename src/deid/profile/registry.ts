import type { Library } from '@medplum/fhirtypes';
import type { AccessContext } from '../../shared';
import { badRequest } from '../../shared';
import type { DeidProfile } from './profile';
import { loadShippedProfiles, parseDeidProfile, ProfileError } from './profile';

/** Finds a stored Library by `Library/{id}` or canonical URL (`url` or `url|version`). */
export type LibraryLoader = (access: AccessContext, ref: string) => Promise<Library | undefined>;

const JSON_TYPES = new Set(['application/json', 'application/fhir+json']);

/**
 * Profiles by name: the shipped ones (profiles/deid), or a hospital's own stored as a FHIR
 * Library whose content is the profile's JSON, so profiles are versioned and audited like any
 * other resource. A stored profile is checked whole on every use; a bad one is refused with
 * where its problem is.
 */
export class DeidProfiles {
  constructor(
    private readonly loadLibrary: LibraryLoader,
    private readonly shipped: ReadonlyMap<string, DeidProfile> = loadShippedProfiles(),
  ) {}

  names(): string[] {
    return [...this.shipped.keys()];
  }

  /** The profile a request names (`basic` when it names none); `expression` locates the name in it. */
  async resolve(access: AccessContext, ref: string | undefined, expression: string): Promise<DeidProfile> {
    const name = ref ?? 'basic';
    const shipped = this.shipped.get(name);
    if (shipped) return shipped;
    const library = /^Library\/[A-Za-z0-9.-]{1,64}$|^https?:\/\//.test(name)
      ? await this.loadLibrary(access, name)
      : undefined;
    if (!library)
      throw badRequest(
        `Unknown de-identification profile '${name}'; shipped: ${this.names().join(', ')}, or a Library/{id} or Library canonical URL`,
        expression,
      );
    const index = (library.content ?? []).findIndex(
      (c) => c.data !== undefined && JSON_TYPES.has(c.contentType ?? ''),
    );
    const data = library.content?.[index]?.data;
    if (data === undefined)
      throw badRequest(`${name} has no application/json content holding a profile`, expression);
    const where = `Library.content[${index}].data`;
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.from(data, 'base64').toString('utf8'));
    } catch {
      throw badRequest(`${name}: ${where} is not JSON`, expression);
    }
    try {
      return parseDeidProfile(
        raw,
        `${name}${library.meta?.versionId ? `/_history/${library.meta.versionId}` : ''}`,
      );
    } catch (err) {
      if (err instanceof ProfileError)
        throw badRequest(
          `Invalid de-identification profile ${name}: ${err.where} ${err.message}`,
          expression,
        );
      throw err;
    }
  }
}
