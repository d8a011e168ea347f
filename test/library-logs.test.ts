import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PYDICOM } from './helpers/dicom';

const root = path.join(__dirname, '..');

/** Parses a file whose odd VRs make dcmjs complain, in a fresh process; returns its stderr. */
function parseIn(silenced: boolean): string {
  const script = `
    const fs = require('node:fs');
    const { silenceLibraryLogs } = require('./src/shared');
    const { parseInstance } = require('./src/dicomweb/parse');
    if (${String(silenced)}) silenceLibraryLogs();
    const file = fs.readFileSync(${JSON.stringify(path.join(PYDICOM, 'MR_small_implicit.dcm'))});
    parseInstance(file, { inlineBinaryBytes: 1024, maxFrames: 100, maxFramePixels: 1e8 })
      .then(() => process.stderr.write('parsed'));
  `;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, encoding: 'utf8' });
  return run.stderr;
}

// dcmjs logs to the console by itself, some messages with element values (PHI) in them.
test('dcmjs writes nothing to the console once the server has silenced it', () => {
  expect(parseIn(false)).toContain('Invalid vr type');
  expect(parseIn(true)).toBe('parsed');
});
