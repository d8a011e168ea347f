import { deidBench } from './deid';
import { dicomwebBench } from './dicomweb';
import { ingestBench } from './ingest';
import { pipelineBench } from './pipeline';

const BENCHES: Record<string, () => Promise<void>> = {
  deid: deidBench,
  dicomweb: dicomwebBench,
  ingest: ingestBench,
  pipeline: pipelineBench,
};

const name = process.argv[2] ?? '';
const bench = BENCHES[name];
if (!bench) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}>`);
  process.exit(2);
}
bench().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
