/** One line of a run's change log: what was done to which element, how often (never a value). */
export interface ChangeLogEntry {
  attribute: string;
  action: string;
  count: number;
}

/** Counts per element and action, summed over every resource or instance of a run. */
export class ChangeLog {
  private readonly byKey = new Map<string, ChangeLogEntry>();

  note(attribute: string, action: string, count = 1): void {
    const key = `${attribute}\u0000${action}`;
    const entry = this.byKey.get(key) ?? { attribute, action, count: 0 };
    entry.count += count;
    this.byKey.set(key, entry);
  }

  add(entries: Iterable<ChangeLogEntry>): void {
    for (const e of entries) this.note(e.attribute, e.action, e.count);
  }

  entries(): ChangeLogEntry[] {
    return [...this.byKey.values()];
  }
}
