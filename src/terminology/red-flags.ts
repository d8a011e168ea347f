import fs from 'node:fs';
import path from 'node:path';

export type MentionStatus = 'affirmed' | 'negated' | 'uncertain' | 'historical';

export interface RedFlagTerm {
  code: string;
  display: string;
  severity: string;
  phrases: string[];
}

export interface Mention {
  term: RedFlagTerm;
  start: number;
  end: number;
  status: MentionStatus;
  /** The cue that decided the status, if any. */
  cue?: string;
}

interface Cues {
  before: string[];
  after: string[];
  uncertainBefore: string[];
  uncertainAfter: string[];
  terminators: string[];
  historical: string[];
}

/** Words a cue may stand from its finding ("no acute intracranial hemorrhage": 2 words between). */
const SCOPE_WORDS = 6;

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const anyOf = (phrases: string[]): RegExp =>
  new RegExp(
    `(?:^|[^a-z0-9])(${[...phrases]
      .sort((a, b) => b.length - a.length)
      .map(escape)
      .join('|')})(?=$|[^a-z0-9])`,
    'g',
  );

/**
 * Red-flag findings in free text with NegEx-style context (Chapman et al. 2001): a mention is
 * negated, historical or uncertain when a cue stands within a few words of it in the same
 * sentence, on the near side of any terminator ("no pneumothorax, but a large effusion").
 */
export class RedFlagMatcher {
  readonly name: string;
  readonly version: string;
  private readonly terms: { term: RedFlagTerm; re: RegExp }[];
  private readonly cue: Record<keyof Cues, RegExp>;

  constructor(file = path.join(__dirname, '..', '..', 'terminology', 'text', 'red-flags.json')) {
    const table = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      name: string;
      version: string;
      terms: RedFlagTerm[];
      negation: Cues;
    };
    this.name = table.name;
    this.version = table.version;
    this.terms = table.terms.map((term) => ({ term, re: anyOf(term.phrases) }));
    this.cue = Object.fromEntries(
      Object.entries(table.negation).map(([k, list]: [string, string[]]) => [k, anyOf(list)]),
    ) as Record<keyof Cues, RegExp>;
  }

  find(text: string): Mention[] {
    const lower = text.toLowerCase();
    const mentions: Mention[] = [];
    for (const { term, re } of this.terms)
      for (const m of lower.matchAll(re)) {
        const phrase = m[1] ?? '';
        const start = (m.index ?? 0) + m[0].length - phrase.length;
        const end = start + phrase.length;
        if (mentions.some((x) => start < x.end && end > x.start)) continue;
        mentions.push({ term, start, end, ...this.context(lower, start, end) });
      }
    return mentions.sort((a, b) => a.start - b.start);
  }

  private context(lower: string, start: number, end: number): { status: MentionStatus; cue?: string } {
    const sentenceStart =
      Math.max(
        lower.lastIndexOf('.', start - 1),
        lower.lastIndexOf('\n', start - 1),
        lower.lastIndexOf(';', start - 1),
      ) + 1;
    const after = lower.slice(end);
    const stop = after.search(/[.;\n]/);
    let before = lower.slice(sentenceStart, start);
    let following = stop < 0 ? after : after.slice(0, stop);
    // A terminator closes a cue's scope: only what lies between it and the finding counts.
    const lastTerminator = [...before.matchAll(this.cue.terminators)].pop();
    if (lastTerminator) before = before.slice((lastTerminator.index ?? 0) + lastTerminator[0].length);
    const firstTerminator = [...following.matchAll(this.cue.terminators)][0];
    if (firstTerminator) following = following.slice(0, firstTerminator.index);
    before = before
      .split(/\s+/)
      .slice(-SCOPE_WORDS - 1)
      .join(' ');
    following = following
      .split(/\s+/)
      .slice(0, SCOPE_WORDS + 1)
      .join(' ');
    const hit = (re: RegExp, s: string): string | undefined => [...s.matchAll(re)].pop()?.[1];
    const negated = hit(this.cue.before, before) ?? hit(this.cue.after, following);
    if (negated) return { status: 'negated', cue: negated };
    const historical = hit(this.cue.historical, before);
    if (historical) return { status: 'historical', cue: historical };
    const uncertain = hit(this.cue.uncertainBefore, before) ?? hit(this.cue.uncertainAfter, following);
    if (uncertain) return { status: 'uncertain', cue: uncertain };
    return { status: 'affirmed' };
  }
}
