// Child for the kill-mid-write test (run with `node --import tsx`):
//   atomic-writer.ts FILE atomic|plain SIZE_BYTES
// Writes FILE over and over, version 1, 2, 3, ... each one a JSON document of about SIZE_BYTES
// that says its own version at both ends: {"n":N,"pad":"...","end":N}. After each completed
// write it prints "N" on stdout. "atomic" uses writeFileAtomic, "plain" fs.writeFileSync (the
// control: it can be caught half-written).
import { writeFileSync } from 'node:fs';
import { writeFileAtomic } from '../../../src/state/atomic.js';

const [file, mode, sizeText] = process.argv.slice(2);
if (!file || (mode !== 'atomic' && mode !== 'plain')) throw new Error('usage: atomic-writer.ts FILE atomic|plain SIZE');
const pad = 'x'.repeat(Number(sizeText ?? 4_000_000));
for (let n = 1; ; n++) {
  const text = `{"n":${n},"pad":"${pad}","end":${n}}`;
  if (mode === 'atomic') writeFileAtomic(file, text);
  else writeFileSync(file, text);
  process.stdout.write(`${n}\n`);
}
