import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { UsageError } from '../util/errors.js';

interface LockOwner {
  pid: number;
  /** process start time from /proc (Linux only), so a reused pid is not mistaken for the owner */
  started?: string;
  command?: string;
}

export class LabBusyError extends UsageError {
  constructor(message: string) {
    super(message, [], 'LAB_BUSY');
  }
}

/**
 * One labctl at a time per lab. The lock is a file holding its owner, created with its whole
 * content at once (written aside, then hard-linked into place, which fails if the lock exists),
 * so no one ever reads a half-written lock. A lock whose process is gone (or whose pid now
 * belongs to a different process) is stale and is taken over: only the process that holds the
 * takeover marker of the lock may delete a stale lock, so two processes that both find the same
 * stale lock cannot both end up holding a new one.
 */
export class LabLock {
  private held = false;
  // a command ended by process.exit (a second Ctrl-C, or one that did not unwind in time)
  // still releases the lab: 'exit' listeners run, synchronously, on every exit
  private readonly onExit = () => this.release();

  constructor(
    private readonly file: string,
    private readonly labName: string,
  ) {}

  acquire(command = ''): void {
    const me = JSON.stringify({ pid: process.pid, started: processStartTime(process.pid), command } satisfies LockOwner);
    for (let attempt = 0; attempt < 50; attempt++) {
      if (createWith(this.file, me)) {
        this.held = true;
        process.once('exit', this.onExit);
        return;
      }
      const seen = readText(this.file);
      if (seen === undefined) continue; // released meanwhile
      const owner = parseOwner(seen);
      if (owner && isAlive(owner)) {
        const what = owner.command ? ` running "${owner.command}"` : '';
        throw new LabBusyError(`lab ${this.labName} is busy (pid ${owner.pid}${what}); wait for it to finish or stop it`);
      }
      if (!this.removeStale(seen, me)) pause(5); // another process is taking it over: look again shortly
    }
    throw new LabBusyError(`lab ${this.labName} is busy: could not take its lock ${this.file}`);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    process.off('exit', this.onExit);
    try {
      const owner = parseOwner(readText(this.file));
      if (owner?.pid === process.pid) unlinkSync(this.file);
    } catch {
      /* already gone */
    }
  }

  /** Deletes the lock if it still reads `seen`, holding the takeover marker; false when another process holds the marker. */
  private removeStale(seen: string, me: string): boolean {
    const marker = `${this.file}.takeover`;
    if (!createWith(marker, me)) {
      // a marker whose owner died mid-takeover would block every takeover: clear it
      const text = readText(marker);
      const owner = parseOwner(text);
      if (text !== undefined && !(owner && isAlive(owner)) && readText(marker) === text) {
        try {
          unlinkSync(marker);
        } catch {
          /* someone else cleared it */
        }
      }
      return false;
    }
    try {
      // Under the marker, nobody else deletes the lock, and a new one cannot be created while
      // this one exists: so if it still reads as the stale lock, it is the stale lock.
      if (readText(this.file) === seen) unlinkSync(this.file);
    } catch {
      /* gone meanwhile */
    } finally {
      try {
        unlinkSync(marker);
      } catch {
        /* ignore */
      }
    }
    return true;
  }
}

/** Creates `file` holding `text`, all at once; false when it already exists. */
function createWith(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.new`;
  writeFileSync(tmp, text, { mode: 0o600 });
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* ignore */
    }
  }
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function parseOwner(text: string | undefined): LockOwner | undefined {
  if (text === undefined) return undefined;
  try {
    const data = JSON.parse(text) as LockOwner;
    return typeof data?.pid === 'number' ? data : undefined;
  } catch {
    return undefined; // empty or garbled: treated as stale
  }
}

/**
 * Whether the lock's owner still runs. process.kill(pid, 0) says whether the pid is in use (on
 * Windows Node opens the process and asks whether it has exited; EPERM: it exists, but belongs
 * to someone else). On Linux the start time recorded in the lock must also match, so a pid
 * reused by another process does not keep a lock alive.
 *
 * On Windows (no /proc) only the liveness check remains: if the owner died and Windows gave its
 * pid to an unrelated process, the lock reads as busy until that process ends. That errs on the
 * safe side (never two labctl on one lab), and the message names the pid and the command, so
 * the user can look it up in Task Manager and delete the lock file.
 */
function isAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = processStartTime(owner.pid);
  return owner.started === undefined || started === undefined || started === owner.started;
}

/**
 * The start time of a process (field 22 of /proc/PID/stat), Linux only. Never elsewhere: Node
 * for Windows would read /proc/PID/stat as \proc\PID\stat on the current drive, and under
 * Wine that is the Linux /proc of whatever unrelated process has that number.
 */
export function processStartTime(pid: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22 (starttime); the command name in field 2 may hold spaces, so split after ")"
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}
