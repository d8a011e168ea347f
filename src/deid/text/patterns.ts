import type { Detector, Finding, PhiType } from './types';

const MONTH =
  '(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)';
const DAY = '(?:[12][0-9]|3[01]|0?[1-9])(?:st|nd|rd|th)?';
/** USPS street suffixes (Publication 28, appendix C1), the common ones with their abbreviations. */
const STREET_SUFFIX =
  '(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|Highway|Hwy|Parkway|Pkwy|Square|Sq|Trail|Trl|Pike|Row|Alley|Aly|Bypass|Byp|Causeway|Center|Ctr|Cove|Cv|Creek|Crk|Crescent|Cres|Crossing|Xing|Estates?|Expressway|Expy|Extension|Ext|Freeway|Fwy|Gardens?|Gdns|Gateway|Glen|Green|Grn|Grove|Grv|Harbor|Hbr|Heights|Hts|Hill|Hl|Hollow|Holw|Junction|Jct|Knoll|Landing|Lndg|Loop|Manor|Mnr|Meadows?|Mdws|Mews|Mill|Motorway|Mount|Mt|Orchard|Oval|Park|Pass|Path|Pines?|Plaza|Plz|Point|Pt|Port|Prairie|Ranch|Ridge|Rdg|Route|Rte|Run|Shore|Shores|Spring|Springs|Spur|Station|Sta|Stravenue|Stream|Summit|Smt|Trace|Track|Turnpike|Tpke|Valley|Vly|Via|View|Vw|Village|Vlg|Ville|Vista|Vis|Walk|Wells?|Fork|Forks|Ford|Forest|Falls|Ferry|Field|Fields|Flat|Flats|Island|Isle|Lake|Lakes|Lodge|Mall|Mission|Neck|Overpass|Passage|Plains?|Radial|Ramp|Rapids?|Rest|River|Shoals?|Skyway|Squares?|Tunnel|Underpass|Union|Brook|Brooks|Burg|Camp|Canyon|Cape|Cliffs?|Club|Commons?|Corners?|Course|Courts|Coves|Crest|Curve|Dale|Dam|Divide|Haven|Inlet|Key|Keys|Knolls|Land|Light|Lights|Loaf|Locks?|Mountain|Orchard|Parks|Pine|Points|Ports|Ridges|Roads|Routes|Throughway|Trafficway|Views|Villages|Wall|Ways|Close|Fall|Gate|Gardens|Quay|Reach|Rise|Wharf|Yard)';
const STATES =
  'AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC';

interface Rule {
  type: PhiType;
  re: RegExp;
  /** The capture group holding the PHI (the rest is context); 0 for the whole match. */
  group?: number;
  /** Rejects a match after the fact (checksums, ranges). */
  accept?: (value: string, match: RegExpExecArray, text: string) => boolean;
}

/** Identifiers named by a label just before them, typed by the label. */
const LABELLED_IDS: [PhiType, string][] = [
  [
    'MRN',
    'MRN|MR\\s?#|Medical\\s+Record(?:\\s+(?:Number|No\\.?|#))?|Record\\s+(?:Number|No\\.?|#)|Patient\\s+ID|Pt\\s+ID|Chart\\s+(?:Number|No\\.?|#)|Unit\\s+(?:Number|No\\.?)',
  ],
  [
    'ACCOUNT',
    'Account(?:\\s+(?:Number|No\\.?|#))?|Acct\\.?(?:\\s*(?:Number|No\\.?|#))?|Billing\\s+(?:Number|No\\.?|#)|Claim(?:\\s+(?:Number|No\\.?|#))?|Policy(?:\\s+(?:Number|No\\.?|#))?|Member\\s+ID|Insurance\\s+ID|Plan\\s+ID|Subscriber\\s+ID|Group\\s+(?:Number|No\\.?|#)',
  ],
  [
    'LICENSE',
    "License(?:\\s+(?:Number|No\\.?|#))?|Lic\\.?\\s*#?|DEA(?:\\s+(?:Number|No\\.?|#))?|NPI|Driver'?s\\s+License|Certificate(?:\\s+(?:Number|No\\.?|#))?|Plate(?:\\s+(?:Number|No\\.?|#))?|VIN|Serial(?:\\s+(?:Number|No\\.?|#))?|Device\\s+ID",
  ],
  [
    'ID',
    'Accession(?:\\s+(?:Number|No\\.?|#))?|Encounter(?:\\s+(?:Number|No\\.?|#|ID))?|Visit(?:\\s+(?:Number|No\\.?|#|ID))|Order(?:\\s+(?:Number|No\\.?|#))|Specimen(?:\\s+(?:Number|No\\.?|#|ID))|Requisition(?:\\s+(?:Number|No\\.?|#))?|Case(?:\\s+(?:Number|No\\.?|#))|Study\\s+ID|Ref(?:erence)?\\s*(?:Number|No\\.?|#)',
  ],
];

const SPOKEN_ORDINAL =
  '(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|twenty[- ](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|thirtieth|thirty[- ]first)';
const SPOKEN_NUMBER =
  '(?:ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?|one|two|three|four|five|six|seven|eight|nine|oh[- ](?:one|two|three|four|five|six|seven|eight|nine))';
const SPOKEN_YEAR = `(?:nineteen|twenty|two thousand(?: and)?)(?:[ ]${SPOKEN_NUMBER})?`;

const RULES: Rule[] = [
  // Dictated dates, as speech recognition writes them ("march third nineteen fifty two").
  {
    type: 'DATE',
    re: new RegExp(`\\b${MONTH}[ ]+(?:the[ ]+)?${SPOKEN_ORDINAL}(?:[ ,]+${SPOKEN_YEAR})?\\b`, 'gi'),
  },
  {
    type: 'DATE',
    re: new RegExp(`\\b(?:the[ ]+)?${SPOKEN_ORDINAL}[ ]+of[ ]+${MONTH}(?:[ ,]+${SPOKEN_YEAR})?\\b`, 'gi'),
  },
  { type: 'EMAIL', re: /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g },
  { type: 'URL', re: /\b(?:https?:\/\/|www\.)[^\s<>"')\]]+[^\s<>"')\].,;:]/gi },
  {
    type: 'IP',
    re: /\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b/g,
  },
  { type: 'IP', re: /\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b/gi },
  { type: 'SSN', re: /\b(?!000|666|9\d\d)\d{3}[- ](?!00)\d{2}[- ](?!0000)\d{4}\b/g },
  {
    type: 'SSN',
    re: /\b(?:SSN|Social\s+Security(?:\s+(?:Number|No\.?|#))?)\s*[:#]?\s*(\d{9}|\d{3}[- ]\d{2}[- ]\d{4})\b/gi,
    group: 1,
  },
  // A seven-digit local number ("at 555-0177"); ranges in lab reports have three digits a side.
  { type: 'PHONE', re: /(?<![\d.-])\d{3}-\d{4}(?![\d-]|\.\d)/g },
  // A number shortly after the word fax is a fax number ("fax results to (975) 953-0988").
  {
    type: 'FAX',
    re: /\b(?:fax|facsimile)\b[^\n\d]{0,30}((?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4})/gi,
    group: 1,
  },
  {
    type: 'PHONE',
    re: /(?<!\d|\d\.)(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?:\s*(?:x|ext\.?|extension)\s*\d{1,6})?(?!\d|\.\d)/gi,
  },
  {
    type: 'PHONE',
    re: /\b(?:phone|tel|telephone|cell|mobile|pager|beeper|contact)\s*(?:number|no\.?|#)?\s*[:#]?\s*(\d{10}|\d{3}[.-]\d{4})\b/gi,
    group: 1,
  },
  // Dates: numeric with a year, ISO, month names in either order, month and year.
  { type: 'DATE', re: /\b(?:0?[1-9]|1[0-2])[/.-](?:0?[1-9]|[12]\d|3[01])[/.-](?:\d{4}|\d{2})\b/g },
  { type: 'DATE', re: /\b(?:0?[1-9]|[12]\d|3[01])[/.-](?:0?[1-9]|1[0-2])[/.-](?:\d{4})\b/g },
  {
    type: 'DATE',
    re: /\b(?:19|20)\d{2}[/.-](?:0?[1-9]|1[0-2])[/.-](?:0?[1-9]|[12]\d|3[01])(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?\b/g,
  },
  { type: 'DATE', re: /\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b/g },
  {
    type: 'DATE',
    re: new RegExp(`\\b${MONTH}\\.?\\s+${DAY}(?:,?\\s+(?:19|20)\\d{2})?\\b`, 'gi'),
    accept: notAWord,
  },
  {
    type: 'DATE',
    re: new RegExp(`\\b${DAY}\\s+(?:of\\s+)?${MONTH}\\.?(?:,?\\s+(?:19|20)\\d{2})?\\b`, 'gi'),
    accept: notAWord,
  },
  { type: 'DATE', re: new RegExp(`\\b${MONTH}\\.?,?\\s+(?:19|20)\\d{2}\\b`, 'gi'), accept: notAWord },
  {
    type: 'DATE',
    re: /\b(?:0?[1-9]|[12]\d|3[01])-(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-(?:\d{4}|\d{2})\b/gi,
  },
  // Month/day without a year only after a word that makes it a date (blood pressures look alike).
  {
    type: 'DATE',
    re: /\b(?:on|since|from|until|till|through|dated|DOB|born|admitted|discharged|seen|visit(?:ed)?|surgery|as of)\s*:?\s*((?:0?[1-9]|1[0-2])\/(?:0?[1-9]|[12]\d|3[01]))(?![/\d])/gi,
    group: 1,
  },
  // Holidays and seasons with a year are dates too.
  {
    type: 'DATE',
    re: /\b(?:Christmas|Thanksgiving|Easter|New Year'?s(?: Day| Eve)?|Independence Day|Memorial Day|Labor Day)(?:\s+(?:of\s+)?(?:19|20)\d{2})?\b/g,
  },
  // Ages over 89 (Safe Harbor keeps younger ages).
  {
    type: 'AGE',
    re: /\b(\d{2,3})(?:\s*|-)(?:years?|yrs?|y\.?o\.?|y\/o)(?:[\s-]*old)?\b/gi,
    group: 1,
    accept: (v) => Number(v) > 89,
  },
  { type: 'AGE', re: /\b(?:age[d]?|aged)\s*:?\s*(\d{2,3})\b/gi, group: 1, accept: (v) => Number(v) > 89 },
  {
    type: 'AGE',
    re: /\b(\d{2,3})(?:M|F|yo[MF])\b/g,
    group: 1,
    accept: (v) => Number(v) > 89 && Number(v) < 130,
  },
  // Street addresses, with an optional unit.
  {
    type: 'ADDRESS',
    re: new RegExp(
      `\\b\\d{1,6}(?:-\\d{1,4})?\\s+(?:[NSEW]\\.?\\s+)?(?:[A-Z0-9][A-Za-z0-9'.-]*\\s+){1,4}${STREET_SUFFIX}s?\\.?(?:\\s*,?\\s*(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|Rm|Room|#)\\.?\\s*#?\\s*[A-Za-z0-9-]+)?\\b`,
      'g',
    ),
  },
  { type: 'ADDRESS', re: /\bP\.?\s?O\.?\s+Box\s+\d+\b/gi },
  // Care providers by their kind ("Mount Pleasant General Hospital", "St. Mary Medical Center").
  {
    type: 'ORGANIZATION',
    re: /\b(?:(?:St\.?|Saint)[ \t]+)?(?:[A-Z][a-zA-Z'’.-]+[ \t]+){1,4}(?:General[ \t]+Hospital|Memorial[ \t]+Hospital|Hospital|Medical[ \t]+Center|Medical[ \t]+Centre|Health[ \t]+(?:System|Center|Centre)|Family[ \t]+Clinic|Clinic|Infirmary|Hospice|Nursing[ \t]+Home|Rehabilitation[ \t]+(?:Center|Hospital)|Surgery[ \t]+Center|Cancer[ \t]+Center|Children'?s[ \t]+Hospital)\b/g,
  },
  // "City, ST 12345": the city and the ZIP code.
  {
    type: 'LOCATION',
    re: new RegExp(`\\b((?:[A-Z][a-z]+\\s){0,2}[A-Z][a-z]+),\\s*(?:${STATES})\\b`, 'g'),
    group: 1,
  },
  { type: 'ZIP', re: new RegExp(`\\b(?:${STATES})\\s+(\\d{5}(?:-\\d{4})?)\\b`, 'g'), group: 1 },
  { type: 'ZIP', re: /\b(?:zip(?:\s*code)?|postal\s+code)\s*[:#]?\s*(\d{5}(?:-\d{4})?)\b/gi, group: 1 },
];

/** "May", "March" and "June" are also words and names: a bare one is not a date. */
function notAWord(value: string): boolean {
  return /\d/.test(value);
}

/** Identifiers after a label ("MRN: 48213377", "Acct # A-77812"). */
function labelledRules(): Rule[] {
  return LABELLED_IDS.map(([type, labels]) => ({
    type,
    re: new RegExp(
      `\\b(?:${labels})\\s*(?:[:#]|is|number)?\\s*[:#]?\\s*([A-Z]{0,4}[-\\s]?\\d[A-Z0-9-]{3,}[A-Z0-9]|\\d{4,})\\b`,
      'gi',
    ),
    group: 1,
  }));
}

/**
 * Long digit runs and letter-digit codes that are neither numbers with units nor dates: account
 * and record numbers written without a label (often next to lab values).
 */
const BARE_ID: Rule = {
  type: 'ID',
  re: /(?<![\w.,/-])(?:[A-Z]{1,4}-?\d{5,}|\d{7,}|\d{3,}-\d{3,}-\d{2,})(?![\w.,/-]|\s?(?:mg|mL|ml|g|kg|mmol|U|IU|units?|cells)\b)/g,
};

/** Regular expressions with context and checksums, in the Philter style: tuned for recall. */
export class PatternDetector implements Detector {
  readonly name = 'patterns';
  private readonly rules: Rule[] = [...labelledRules(), ...RULES, BARE_ID];

  detect(text: string): Finding[] {
    const out: Finding[] = [];
    for (const rule of this.rules) {
      rule.re.lastIndex = 0;
      for (let m = rule.re.exec(text); m; m = rule.re.exec(text)) {
        const group = rule.group ?? 0;
        const value = m[group];
        if (value === undefined || value === '') continue;
        if (rule.accept && !rule.accept(value, m, text)) continue;
        const start = m.index + (group === 0 ? 0 : m[0].indexOf(value));
        out.push({ type: rule.type, start, end: start + value.length, source: `${this.name}:${rule.type}` });
        if (m[0].length === 0) rule.re.lastIndex++;
      }
    }
    return out;
  }
}
