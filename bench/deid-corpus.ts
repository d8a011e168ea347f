import fs from 'node:fs';
import path from 'node:path';
import { Faker, en } from '@faker-js/faker';
import type { PhiType } from '../src/deid';
import { MONTHS } from '../src/deid/text/date-shift';
import type { CorpusDoc } from './deid-score';
import { CORPUS_FILE } from './deid-score';

/** Names that are also words, and surnames that are also eponyms: the hard cases. */
const WORD_NAMES = [
  'Hope',
  'Rose',
  'Grace',
  'Faith',
  'Joy',
  'Will',
  'Mark',
  'Bill',
  'June',
  'April',
  'Summer',
];
const WORD_SURNAMES = [
  'Baker',
  'Hunter',
  'Bell',
  'Brown',
  'Young',
  'Cook',
  'Parker',
  'Graves',
  'Still',
  'Page',
];
const ORDINALS = [
  'first',
  'second',
  'third',
  'fourth',
  'fifth',
  'tenth',
  'twelfth',
  'fifteenth',
  'twentieth',
  'twenty first',
  'thirtieth',
];
const YEARS = [
  'nineteen fifty two',
  'nineteen forty',
  'two thousand three',
  'nineteen eighty seven',
  'two thousand and ten',
];
const STATES = ['IL', 'MA', 'CA', 'NY', 'TX', 'OH', 'WA', 'GA', 'MN', 'PA'];

/** Appends literal text and PHI, recording each PHI's character offsets as it goes. */
class Builder {
  text = '';
  phi: CorpusDoc['phi'] = [];
  t(s: string): this {
    this.text += s;
    return this;
  }
  p(type: PhiType, value: string): this {
    this.phi.push({ type, start: this.text.length, end: this.text.length + value.length });
    this.text += value;
    return this;
  }
}

/**
 * Deterministic synthetic notes (seeded faker), in the styles the server sees: discharge
 * summaries, radiology and lab reports, dictated transcripts and progress notes.
 */
export function generateCorpus(count: number, seed = 2014): CorpusDoc[] {
  const f = new Faker({ locale: [en] });
  f.seed(seed);
  const pick = <T>(xs: readonly T[]): T => xs[f.number.int({ min: 0, max: xs.length - 1 })] as T;
  const first = (): string => (f.datatype.boolean(0.2) ? pick(WORD_NAMES) : f.person.firstName());
  const last = (): string => (f.datatype.boolean(0.2) ? pick(WORD_SURNAMES) : f.person.lastName());
  const date = (): string => {
    const d = f.date.between({ from: '1925-01-01', to: '2025-12-31' });
    const y = d.getUTCFullYear();
    const m = d.getUTCMonth() + 1;
    const day = d.getUTCDate();
    const mon = d.toLocaleString('en-US', { month: 'long', timeZone: 'UTC' });
    const pad = (n: number): string => String(n).padStart(2, '0');
    return pick([
      `${pad(m)}/${pad(day)}/${y}`,
      `${m}/${day}/${String(y).slice(2)}`,
      `${y}-${pad(m)}-${pad(day)}`,
      `${mon} ${day}, ${y}`,
      `${day} ${mon} ${y}`,
      `${mon.slice(0, 3)} ${day}, ${y}`,
      `${pad(day)}-${mon.slice(0, 3)}-${y}`,
      `${y}${pad(m)}${pad(day)}`,
      `${mon} ${y}`,
      `${mon} ${day}th`,
    ]);
  };
  const phone = (): string =>
    pick([
      `(${f.string.numeric(3)}) ${f.string.numeric(3)}-${f.string.numeric(4)}`,
      `${f.string.numeric(3)}-${f.string.numeric(3)}-${f.string.numeric(4)}`,
      `${f.string.numeric(3)}.${f.string.numeric(3)}.${f.string.numeric(4)}`,
      `+1 ${f.string.numeric(3)} ${f.string.numeric(3)} ${f.string.numeric(4)}`,
    ]);
  const mrn = (): string => pick([f.string.numeric(8), `MR${f.string.numeric(7)}`, f.string.numeric(7)]);
  const hospital = (): string =>
    pick([
      `${f.location.city()} General Hospital`,
      `${f.person.lastName()} Memorial Hospital`,
      `St. ${f.person.firstName()} Medical Center`,
      `${f.location.city()} Family Clinic`,
    ]);
  const age = (): { text: string; phi: boolean } => {
    const n = f.number.int({ min: 20, max: 104 });
    return { text: String(n), phi: n > 89 };
  };
  const lab = (): string =>
    pick([
      `Potassium ${f.number.float({ min: 2.5, max: 7.5, fractionDigits: 1 })} mmol/L (3.5-5.1)`,
      `Sodium ${f.number.int({ min: 120, max: 155 })} mmol/L (135-145)`,
      `Hemoglobin ${f.number.float({ min: 6, max: 17, fractionDigits: 1 })} g/dL (12.0-16.0)`,
      `Creatinine ${f.number.float({ min: 0.5, max: 6, fractionDigits: 2 })} mg/dL`,
      `WBC ${f.number.float({ min: 2, max: 25, fractionDigits: 1 })} x10^9/L`,
      `Troponin I ${f.number.float({ min: 0, max: 3, fractionDigits: 2 })} ng/mL`,
    ]);
  const finding = (): string =>
    pick([
      'a Baker cyst in the left popliteal fossa',
      'no evidence of pneumothorax',
      'findings consistent with Parkinson disease',
      'a positive Murphy sign',
      'mild cardiomegaly',
      'a small right pleural effusion',
      'Graves disease, treated',
      'no acute intracranial abnormality',
    ]);

  const docs: CorpusDoc[] = [];
  for (let i = 0; i < count; i++) {
    const b = new Builder();
    const pf = first();
    const pl = last();
    const dr = `${first()} ${last()}`;
    const a = age();
    const kinds = [
      'discharge',
      'radiology',
      'lab',
      'dictation',
      'progress',
      'transcript',
      'message',
    ] as const;
    const kind = kinds[i % kinds.length] ?? 'discharge';
    switch (kind) {
      case 'discharge':
        b.t('DISCHARGE SUMMARY\nPatient: ').p('NAME', `${pf} ${pl}`).t('    MRN: ').p('MRN', mrn());
        b.t('\nDOB: ').p('DATE', date()).t('    Admission date: ').p('DATE', date());
        b.t('\nHospital: ')
          .p('ORGANIZATION', hospital())
          .t('\n\nHISTORY: ')
          .t(`Mr${pf.length % 2 ? 's' : ''}. `)
          .p('NAME', pl);
        b.t(' is a ');
        if (a.phi) b.p('AGE', a.text);
        else b.t(a.text);
        b.t(
          `-year-old with ${finding()}. ${f.datatype.boolean() ? 'There is hope for recovery.' : 'Rose 2 points on the pain scale.'}`,
        );
        b.t('\nLabs: ')
          .t(lab())
          .t(', ')
          .t(lab())
          .t('.\nAddress on file:\n')
          .p('ADDRESS', f.location.streetAddress());
        b.t('\n')
          .p('LOCATION', f.location.city())
          .t(`, ${pick(STATES)} `)
          .p('ZIP', f.location.zipCode('#####'));
        b.t('\nPhone: ')
          .p('PHONE', phone())
          .t('\nDischarged to home with daughter ')
          .p('NAME', `${first()} ${pl}`)
          .t('.\n');
        b.t('Attending: Dr. ').p('NAME', dr).t('\nDictated ').p('DATE', date()).t('\n');
        break;
      case 'radiology':
        b.t('RADIOLOGY REPORT\nExam: CT chest with contrast\nAccession #: ').p('ID', f.string.numeric(9));
        b.t('\nPatient: ')
          .p('NAME', `${pl}, ${pf}`)
          .t(' (MRN ')
          .p('MRN', mrn())
          .t(')\nDate of exam: ')
          .p('DATE', date());
        b.t('\nReferring: Dr. ').p('NAME', dr).t('\n\nFINDINGS: ').t(`There is ${finding()}.`);
        b.t(' Compared with the prior study of ').p('DATE', date()).t('.\nIMPRESSION: ').t(`${finding()}.`);
        b.t('\nImages available at ').p(
          'URL',
          `https://pacs.${f.internet.domainWord()}.org/viewer?study=${f.string.numeric(6)}`,
        );
        b.t('\nRead by: ')
          .p('NAME', `${first()} ${last()}`)
          .t(', MD   Workstation ')
          .p('IP', f.internet.ipv4())
          .t('\n');
        break;
      case 'lab':
        b.t('LABORATORY REPORT\n')
          .p('ORGANIZATION', hospital())
          .t(' Laboratory\nName: ')
          .p('NAME', `${pl}, ${pf}`);
        b.t('\nMRN ')
          .p('MRN', mrn())
          .t(' Collected ')
          .p('DATE', date())
          .t('\n')
          .t(lab())
          .t(' H\n')
          .t(lab())
          .t('\n');
        // An identifier written right against the lab values, with no label.
        b.t(lab()).t(' ref ').p('ID', f.string.numeric(8)).t('\nOrdering provider: ').p('NAME', dr);
        b.t('  NPI ')
          .p('LICENSE', f.string.numeric(10))
          .t('\nCall ')
          .p('PHONE', phone())
          .t(' with questions; fax results to ')
          .p('FAX', phone())
          .t('.\n');
        break;
      case 'dictation':
        b.t('This is Dr. ')
          .p('NAME', dr)
          .t(' dictating on ')
          .p('DATE', date())
          .t(' for patient ')
          .p('NAME', `${pf} ${pl}`);
        b.t(', date of birth ').p('DATE', date()).t('. The patient is a ');
        if (a.phi) b.p('AGE', `${a.text} year old`);
        else b.t(`${a.text} year old`);
        b.t(` seen for follow up of ${finding()}. Her husband `).p('NAME', `${first()} ${pl}`);
        b.t(' can be reached at ')
          .p('PHONE', phone())
          .t(' or ')
          .p('EMAIL', f.internet.email({ firstName: pf, lastName: pl }));
        b.t('. Social security number ').p(
          'SSN',
          `${f.number.int({ min: 100, max: 665 })}-${f.number.int({ min: 10, max: 99 })}-${f.number.int({ min: 1000, max: 9999 })}`,
        );
        b.t('. Insurance member ID ')
          .p('ACCOUNT', `${f.string.alpha({ length: 3, casing: 'upper' })}${f.string.numeric(9)}`)
          .t('. End of dictation.\n');
        break;
      case 'progress':
        b.t('Progress note ')
          .p('DATE', date())
          .t('\nS: ')
          .p('NAME', pf)
          .t(' reports feeling better. No chest pain.\n');
        b.t('O: BP 128/76, HR 72. ').t(lab()).t('.\nA/P: ').t(`Continue current plan; ${finding()}. `);
        b.t('Seen with ').p('NAME', `${first()} ${last()}`).t(', RN. Next visit on ').p('DATE', date());
        b.t(' at the ')
          .p('ORGANIZATION', hospital())
          .t(', ')
          .p('ADDRESS', f.location.streetAddress())
          .t('.\n');
        b.t('Account: ')
          .p('ACCOUNT', `${f.string.numeric(6)}-${f.string.numeric(2)}`)
          .t('\n');
        break;
      case 'transcript': {
        // Speech recognition output: lower case, no punctuation, numbers spoken.
        const spokenDate = `${pick(MONTHS)} ${pick(ORDINALS)} ${pick(YEARS)}`;
        b.t('this is doctor ').p('NAME', last().toLowerCase()).t(' dictating a clinic note for ');
        b.p('NAME', `${pf} ${pl}`.toLowerCase()).t(' date of birth ').p('DATE', spokenDate);
        b.t(` the patient was seen today for ${finding().toLowerCase()} she lives with her son `);
        b.p('NAME', first().toLowerCase())
          .t(' who can be reached at ')
          .p('PHONE', f.string.numeric(10).replace(/(\d{3})(\d{3})(\d{4})/, '$1 $2 $3'));
        b.t(' follow up on ')
          .p('DATE', `${pick(MONTHS)} ${pick(ORDINALS)}`)
          .t(' end of dictation\n');
        break;
      }
      case 'message':
        // A portal message: names with no title or label, a first name alone.
        b.t(`Spoke with ${f.datatype.boolean() ? '' : 'the daughter, '}`)
          .p('NAME', first())
          .t(', about the results. ');
        b.p('NAME', `${pf} ${pl}`)
          .t(' will come in next week; her neighbor ')
          .p('NAME', `${first()} ${last()}`);
        b.t(' drives her. They live near ')
          .p('LOCATION', f.location.city())
          .t('. Reply to ')
          .p('EMAIL', f.internet.email());
        b.t(` or leave a voicemail. Thanks, `).p('NAME', first()).t('\n');
        break;
    }
    docs.push({ id: `doc-${String(i + 1).padStart(4, '0')}`, kind, text: b.text, phi: b.phi });
  }
  return docs;
}

/** Writes the corpus the tests and the bench read (`npx tsx bench/deid-corpus.ts`). */
if (require.main === module) {
  fs.mkdirSync(path.dirname(CORPUS_FILE), { recursive: true });
  fs.writeFileSync(CORPUS_FILE, `${JSON.stringify(generateCorpus(420), null, 2)}\n`);
  console.log(`wrote ${CORPUS_FILE}`);
}
