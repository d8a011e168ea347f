import fs from 'node:fs';
import path from 'node:path';

/** Option columns of PS3.15 table E.1-1 this server can apply. */
export const OPTION_COLUMNS = [
  'rtnLongModifDatesOpt',
  'rtnLongFullDatesOpt',
  'cleanDescOpt',
  'rtnPatCharsOpt',
  'rtnDevIdOpt',
  'rtnInstIdOpt',
] as const;
export type OptionColumn = (typeof OPTION_COLUMNS)[number];

interface TableRow {
  name: string;
  tag: string;
  id: string;
  basicProfile: string;
  [option: string]: string;
}

export interface AttributeRule {
  name: string;
  /** The Basic Profile action and, per option column, the option's action. */
  basic: string;
  options: Partial<Record<OptionColumn, string>>;
}

/**
 * PS3.15 table E.1-1 (vendored under terminology/dicom with its attribution), indexed by tag,
 * with the repeating groups (50xx, 60xx) as patterns.
 */
export class ConfidentialityTable {
  private readonly exact = new Map<string, AttributeRule>();
  private readonly patterns: [RegExp, AttributeRule][] = [];

  constructor(
    file = path.join(
      __dirname,
      '..',
      '..',
      '..',
      'terminology',
      'dicom',
      'confidentiality_profile_attributes.json',
    ),
  ) {
    const rows = JSON.parse(fs.readFileSync(file, 'utf8')) as TableRow[];
    for (const row of rows) {
      const options: AttributeRule['options'] = {};
      for (const col of OPTION_COLUMNS) if (row[col]) options[col] = row[col];
      const rule: AttributeRule = { name: row.name, basic: row.basicProfile, options };
      const id = row.id.toUpperCase();
      if (/^[0-9A-F]{8}$/.test(id)) this.exact.set(id, rule);
      else if (/^[0-9A-FX]{8}$/.test(id))
        this.patterns.push([new RegExp(`^${id.replace(/X/g, '[0-9A-F]')}$`), rule]);
      // The odd-group row (private attributes) is handled by the engine itself.
    }
  }

  rule(tag: string): AttributeRule | undefined {
    return this.exact.get(tag) ?? this.patterns.find(([re]) => re.test(tag))?.[1];
  }

  /** The action for a profile: an enabled option's action wins over the Basic Profile's. */
  action(rule: AttributeRule, options: readonly OptionColumn[]): string {
    for (const opt of options) {
      const a = rule.options[opt];
      if (a) return a;
    }
    return rule.basic;
  }
}
