// Child for the lock tests (run with `node --import tsx`): lock-worker.ts LOCK_FILE LAB [COMMAND]
// Reads commands on stdin, one a line, and answers each on stdout:
//   acquire -> "got" or "busy <message>"      release -> "released"      exit -> exits
// With LOCK_WORKER_ACQUIRE=1 it acquires at once and prints "got" or "busy <message>".
import { createInterface } from 'node:readline';
import { LabLock } from '../../../src/state/lock.js';

const [file, lab, command = 'worker'] = process.argv.slice(2);
if (!file || !lab) throw new Error('usage: lock-worker.ts LOCK_FILE LAB [COMMAND]');
let lock: LabLock | undefined;

function acquire(): void {
  const attempt = new LabLock(file!, lab!);
  try {
    attempt.acquire(command);
    lock = attempt;
    process.stdout.write('got\n');
  } catch (err) {
    process.stdout.write(`busy ${(err as Error).message}\n`);
  }
}

if (process.env.LOCK_WORKER_ACQUIRE === '1') acquire();
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'acquire') acquire();
  else if (cmd === 'release') {
    lock?.release();
    lock = undefined;
    process.stdout.write('released\n');
  } else if (cmd === 'exit') process.exit(0);
});
