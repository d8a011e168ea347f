import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

/**
 * The ceiling for any Node.js STOW-RS server on this machine: it writes each request body to a
 * file and answers an empty JSON object, parsing and indexing nothing. Run by the dicomweb bench
 * in its own process, as the server and Orthanc are.
 */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stow-floor-'));
let n = 0;
const server = http.createServer((req, res) => {
  const file = path.join(dir, String(n++ % 64));
  pipeline(req, fs.createWriteStream(file)).then(
    () => {
      res.writeHead(200, { 'Content-Type': 'application/dicom+json' });
      res.end('{}');
    },
    () => {
      res.writeHead(400);
      res.end();
    },
  );
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
