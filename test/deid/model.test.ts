import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadManifest } from '../../src/ai';
import { createTextDeidentifier, OnnxTokenDetector } from '../../src/deid';
import { startTestServer } from '../helpers/server';
import { loadHeldOut } from '../../bench/deid-score';

const MODELS = path.join(__dirname, '..', '..', 'models');
const NAME = 'deid-token-hashed';

/** A copy of the shipped model directory, altered by `change`, in a temporary models dir. */
function alteredCopy(change: (dir: string) => void): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'models-'));
  fs.cpSync(path.join(MODELS, NAME), path.join(root, NAME), { recursive: true });
  change(path.join(root, NAME));
  return root;
}

const editManifest = (dir: string, edit: (m: Record<string, any>) => void): void => {
  const file = path.join(dir, 'manifest.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, any>;
  edit(m);
  fs.writeFileSync(file, JSON.stringify(m));
};

test('the shipped model runs through onnxruntime-node behind the Detector interface', async () => {
  const manifest = await loadManifest(MODELS, NAME);
  expect(manifest.licence).toMatch(/Apache-2.0/);
  const model = await OnnxTokenDetector.load(manifest);
  try {
    const text = 'Patient Marisol Quintanilla was seen on 03/14/2022; call 217-555-0143 with results.';
    const found = await model.detect(text);
    const kinds = found.map((f) => [f.type, text.slice(f.start, f.end)]);
    expect(kinds).toEqual(
      expect.arrayContaining([
        ['NAME', 'Marisol Quintanilla'],
        ['DATE', '03/14/2022'],
      ]),
    );
    expect(found.every((f) => f.source === 'onnx:deid-token-hashed@1.0.0')).toBe(true);
    // Beside the rules: what the engine reports includes what the model found.
    const engine = createTextDeidentifier([model]);
    const { text: out } = await engine.deidentify(text);
    expect(out).not.toMatch(/Marisol|Quintanilla|03\/14\/2022|555-0143/);
    expect(await model.detect('')).toEqual([]);
  } finally {
    await model.close();
  }
});

describe('beside the rules, the model only adds: it never changes the type of a span a rule found', () => {
  let model: OnnxTokenDetector;
  beforeAll(async () => {
    model = await OnnxTokenDetector.load(await loadManifest(MODELS, NAME));
  });
  afterAll(async () => {
    await model.close();
  });

  test("the sentence of issue 19 keeps the rules' PHONE and ADDRESS", async () => {
    const text = 'Call 217-555-0143. Lives at 12 Elm Street, Springfield.';
    const rules = await createTextDeidentifier().deidentify(text);
    expect(rules.text).toBe('Call [PHONE-1]. Lives at [ADDRESS-1], Springfield.');
    // The model alone calls part of the phone number an SSN and the house number a date.
    const alone = (await model.detect(text)).map((f) => f.type);
    expect(alone).toEqual(expect.arrayContaining(['SSN', 'DATE']));
    const both = await createTextDeidentifier([model]).deidentify(text);
    expect(both.text).toMatch(/^Call \[PHONE-1\]\. Lives at \[ADDRESS-1\], /);
  });

  test('on the hand-written held-out notes: nothing the rules typed right is typed wrong, nothing they found is lost', async () => {
    const notes = loadHeldOut();
    expect(notes.length).toBeGreaterThanOrEqual(30);
    const rules = createTextDeidentifier();
    const both = createTextDeidentifier([model]);
    const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }): boolean =>
      a.start < b.end && b.start < a.end;
    const downgraded: string[] = [];
    const lost: string[] = [];
    for (const note of notes) {
      const [r, b] = [await rules.findings(note.text), await both.findings(note.text)];
      for (const g of note.phi) {
        const what = `${note.id} ${g.type} ${note.text.slice(g.start, g.end)}`;
        if (r.some((f) => overlaps(f, g)) && !b.some((f) => overlaps(f, g))) lost.push(what);
        if (
          r.some((f) => overlaps(f, g) && f.type === g.type) &&
          !b.some((f) => overlaps(f, g) && f.type === g.type)
        )
          downgraded.push(what);
      }
    }
    expect({ downgraded, lost }).toEqual({ downgraded: [], lost: [] });
  });
});

test.each([
  [
    'a weight file that is not the one described',
    (d: string) => {
      fs.appendFileSync(path.join(d, 'model.onnx'), 'x');
    },
    /does not match its sha256/,
  ],
  [
    'a missing weight file',
    (d: string) => {
      fs.rmSync(path.join(d, 'model.onnx'));
    },
    /is missing/,
  ],
  [
    'a file outside its directory',
    (d: string) => {
      editManifest(d, (m) => {
        m.files.model.path = '../../etc/passwd';
      });
    },
    /outside the model directory/,
  ],
  [
    'no licence',
    (d: string) => {
      editManifest(d, (m) => {
        delete m.licence;
      });
    },
    /needs licence/,
  ],
])('%s is refused before the server opens anything', async (_, change, message) => {
  const dir = alteredCopy(change);
  try {
    await expect(loadManifest(dir, NAME)).rejects.toThrow(message);
    await expect(startTestServer({ modelsDir: dir, deidNerModels: [NAME] })).rejects.toThrow(message);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('labels and input kinds the server cannot use are refused at load', async () => {
  for (const [edit, message] of [
    [
      (m: Record<string, any>) => {
        m.labels = ['O', 'PATIENT_NAME'];
      },
      /unknown labels PATIENT_NAME/,
    ],
    [
      (m: Record<string, any>) => {
        m.input.kind = 'wordpiece';
      },
      /input kind wordpiece/,
    ],
    [
      (m: Record<string, any>) => {
        m.task = 'image-classification';
      },
      /not token-classification/,
    ],
  ] as const) {
    const dir = alteredCopy((d) => {
      editManifest(d, edit);
    });
    try {
      await expect(loadManifest(dir, NAME).then((m) => OnnxTokenDetector.load(m))).rejects.toThrow(message);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});
