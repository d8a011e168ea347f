import fs from 'node:fs';
import path from 'node:path';
import { loadR4Definitions } from '../../shared';
import type { OptionColumn } from '../dicom/profile';
import { OPTION_COLUMNS } from '../dicom/profile';
import type { NodeMatcher } from './fhir-path';
import { compileNodeSelector, RuleError } from './fhir-path';

export const FHIR_METHODS = [
  'keep',
  'remove',
  'redact',
  'generalize',
  'cryptoHash',
  'dateShift',
  'cleanText',
] as const;
export type FhirMethod = (typeof FHIR_METHODS)[number];

export interface FhirRule {
  /** The rule as written, for the change log. */
  path: string;
  matches: NodeMatcher;
  method: FhirMethod;
}

/** Burned-in text in DICOM pixels: set aside, or found by OCR and blanked. */
export type BurnedInText = 'quarantine' | 'clean';
/** What replaces PHI in free text: `[NAME-1]` tags, or realistic stand-ins of the same kind. */
export type TextReplacement = 'tag' | 'surrogate';

/** One named, versioned profile: what happens to DICOM attributes, FHIR elements and free text. */
export interface DeidProfile {
  name: string;
  version: string;
  /** Where it came from: a shipped file or a stored Library. */
  source: string;
  text: { replacement: TextReplacement };
  fhir: { rules: readonly FhirRule[]; shiftTextDates: boolean };
  dicom: {
    options: readonly OptionColumn[];
    /** CID 7050 codes for DeidentificationMethodCodeSequence, Basic Profile first. */
    codes: readonly [code: string, meaning: string][];
    burnedInText: BurnedInText;
  };
}

/** A profile that cannot be used, with where in it the problem is (a JSON path). */
export class ProfileError extends Error {
  constructor(
    message: string,
    readonly where: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

function obj(v: unknown, where: string): Json {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ProfileError('must be an object', where);
  return v as Json;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], where: string, fallback: T): T {
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !allowed.includes(v as T))
    throw new ProfileError(`must be one of ${allowed.join(', ')}`, where);
  return v as T;
}

/**
 * Checks and compiles a profile's JSON. Every rule is checked before anything runs, so a profile
 * with one bad rule is refused whole rather than half-applied.
 */
export function parseDeidProfile(raw: unknown, source: string): DeidProfile {
  loadR4Definitions(); // rule paths are checked against the R4 definitions
  const p = obj(raw, '$');
  const name = p.name;
  const version = p.version;
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(name))
    throw new ProfileError('must be 1-64 letters, digits, dots, dashes or underscores', '$.name');
  if (typeof version !== 'string' || version === '') throw new ProfileError('is required', '$.version');
  const text = obj(p.text ?? {}, '$.text');
  const fhir = obj(p.fhir ?? {}, '$.fhir');
  const dicom = obj(p.dicom ?? {}, '$.dicom');
  const rules = fhir.rules ?? [];
  if (!Array.isArray(rules)) throw new ProfileError('must be an array', '$.fhir.rules');
  const options = dicom.options ?? [];
  if (!Array.isArray(options)) throw new ProfileError('must be an array', '$.dicom.options');
  const codes = dicom.codes ?? [];
  if (
    !Array.isArray(codes) ||
    !codes.every(
      (c) => Array.isArray(c) && c.length === 2 && c.every((x) => typeof x === 'string' && x !== ''),
    )
  )
    throw new ProfileError('must be [code, meaning] pairs', '$.dicom.codes');
  return {
    name,
    version,
    source,
    text: { replacement: oneOf(text.replacement, ['tag', 'surrogate'], '$.text.replacement', 'tag') },
    fhir: {
      rules: rules.map((r, i) => parseRule(r, `$.fhir.rules[${i}]`)),
      shiftTextDates: fhir.shiftTextDates === true,
    },
    dicom: {
      options: options.map((o, i) => oneOf(o, OPTION_COLUMNS, `$.dicom.options[${i}]`, 'cleanDescOpt')),
      codes: codes as [string, string][],
      burnedInText: oneOf(dicom.burnedInText, ['quarantine', 'clean'], '$.dicom.burnedInText', 'quarantine'),
    },
  };
}

function parseRule(raw: unknown, where: string): FhirRule {
  const r = obj(raw, where);
  if (typeof r.path !== 'string') throw new ProfileError('is required', `${where}.path`);
  const method = oneOf(r.method, FHIR_METHODS, `${where}.method`, 'keep');
  if (r.method === undefined) throw new ProfileError('is required', `${where}.method`);
  try {
    return { path: r.path, matches: compileNodeSelector(r.path), method };
  } catch (err) {
    if (err instanceof RuleError) throw new ProfileError(err.message, `${where}.path`);
    throw err;
  }
}

/** The profiles shipped under profiles/deid, one JSON file each, checked when the server starts. */
export function loadShippedProfiles(
  dir = path.join(__dirname, '..', '..', '..', 'profiles', 'deid'),
): ReadonlyMap<string, DeidProfile> {
  const out = new Map<string, DeidProfile>();
  for (const file of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const source = `profiles/deid/${file}`;
    let profile: DeidProfile;
    try {
      profile = parseDeidProfile(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')), source);
    } catch (err) {
      if (err instanceof ProfileError) throw new Error(`${source} ${err.where}: ${err.message}`);
      throw err;
    }
    out.set(profile.name, profile);
  }
  return out;
}
