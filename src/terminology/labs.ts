import fs from 'node:fs';
import path from 'node:path';

const DIR = path.join(__dirname, '..', '..', 'terminology', 'labs');

export interface LabTest {
  loinc: string;
  display: string;
  aliases: string[];
  /** The UCUM unit values are kept in. */
  unit: string;
  /** Values outside are misreadings, not results. */
  plausible: [number, number];
  /** Other units a report may print, with the factor to this test's unit. */
  units?: Record<string, number>;
}

export interface CriticalLimit {
  loinc: string;
  unit: string;
  low?: number;
  high?: number;
  ageBands?: { maxAgeYears: number; low?: number; high?: number }[];
}

/** The lab test catalogue (terminology/labs/loinc-labs.json): names as printed → LOINC and UCUM. */
export class LabCatalog {
  private readonly byAlias = new Map<string, LabTest>();
  private readonly byLoinc = new Map<string, LabTest>();
  /** Aliases longest first, so "total co2" wins over "co2". */
  readonly aliases: string[];

  constructor(file = path.join(DIR, 'loinc-labs.json')) {
    const { tests } = JSON.parse(fs.readFileSync(file, 'utf8')) as { tests: LabTest[] };
    for (const t of tests) {
      this.byLoinc.set(t.loinc, t);
      for (const a of t.aliases) this.byAlias.set(a.toLowerCase(), t);
    }
    this.aliases = [...this.byAlias.keys()].sort((a, b) => b.length - a.length);
  }

  byName(name: string): LabTest | undefined {
    return this.byAlias.get(name.toLowerCase());
  }

  byCode(loinc: string): LabTest | undefined {
    return this.byLoinc.get(loinc);
  }

  /** The value in the test's own unit, or undefined when the printed unit is not one it knows. */
  convert(test: LabTest, value: number, unit: string | undefined): number | undefined {
    if (unit === undefined || unit === '' || unit.toLowerCase() === test.unit.toLowerCase()) return value;
    const entry = Object.entries(test.units ?? {}).find(([u]) => u.toLowerCase() === unit.toLowerCase());
    return entry ? value * entry[1] : undefined;
  }
}

/** Critical limits (terminology/labs/critical-values.json), named and versioned for Provenance. */
export class CriticalLimits {
  readonly name: string;
  readonly version: string;
  private readonly byLoinc = new Map<string, CriticalLimit>();

  constructor(file = path.join(DIR, 'critical-values.json')) {
    const table = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      name: string;
      version: string;
      limits: CriticalLimit[];
    };
    this.name = table.name;
    this.version = table.version;
    for (const l of table.limits) this.byLoinc.set(l.loinc, l);
  }

  /** LL or HH when the value (in the limit's unit) is at or beyond a limit for this age. */
  evaluate(
    loinc: string,
    value: number,
    ageYears?: number,
  ): { flag: 'LL' | 'HH'; limit: number } | undefined {
    const limit = this.byLoinc.get(loinc);
    if (!limit) return undefined;
    const band =
      ageYears === undefined
        ? undefined
        : limit.ageBands
            ?.filter((b) => ageYears <= b.maxAgeYears)
            .sort((a, b) => a.maxAgeYears - b.maxAgeYears)[0];
    const low = band?.low ?? limit.low;
    const high = band?.high ?? limit.high;
    if (low !== undefined && value <= low) return { flag: 'LL', limit: low };
    if (high !== undefined && value >= high) return { flag: 'HH', limit: high };
    return undefined;
  }

  unitOf(loinc: string): string | undefined {
    return this.byLoinc.get(loinc)?.unit;
  }
}
