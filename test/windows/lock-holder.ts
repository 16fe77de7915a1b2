// Child for the lock tests of test/windows: lock-holder LOCK_FILE LAB COMMAND REPORT_FILE
// Takes the lock and writes "got" (or "busy <message>") to REPORT_FILE; then, holding it, waits
// until REPORT_FILE.release exists, releases it, writes REPORT_FILE.released and exits. Files,
// not stdio: this runs as node.exe under Wine too. The tests kill it to leave a stale lock.
import { existsSync, writeFileSync } from 'node:fs';
import { LabLock } from '../../src/state/lock.js';

const [file, lab, command, report] = process.argv.slice(2);
if (!file || !lab || !command || !report) throw new Error('usage: lock-holder LOCK_FILE LAB COMMAND REPORT_FILE');
const lock = new LabLock(file, lab);
try {
  lock.acquire(command);
} catch (err) {
  writeFileSync(report, `busy ${(err as Error).message}`);
  process.exit(0);
}
writeFileSync(report, 'got');
const timer = setInterval(() => {
  if (!existsSync(`${report}.release`)) return;
  clearInterval(timer);
  lock.release();
  writeFileSync(`${report}.released`, '');
}, 20);
// never outlive a test run that died: give up the lock after two minutes
setTimeout(() => process.exit(3), 120_000).unref();
