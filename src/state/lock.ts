import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { UsageError } from '../util/errors.js';

interface LockOwner {
  pid: number;
  /** process start time from /proc, so a reused pid is not mistaken for the owner */
  started?: string;
  command?: string;
}

export class LabBusyError extends UsageError {}

/**
 * One labctl at a time per lab. The lock is a file created with O_EXCL; a lock whose
 * process is gone (or whose pid now belongs to a different process) is stale and is
 * taken over.
 */
export class LabLock {
  private held = false;

  constructor(
    private readonly file: string,
    private readonly labName: string,
  ) {}

  acquire(command = ''): void {
    const me: LockOwner = { pid: process.pid, started: processStartTime(process.pid), command };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        writeFileSync(this.file, JSON.stringify(me), { flag: 'wx', mode: 0o600 });
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = readOwner(this.file);
      if (owner && isAlive(owner)) {
        const what = owner.command ? ` running "${owner.command}"` : '';
        throw new LabBusyError(`lab ${this.labName} is busy (pid ${owner.pid}${what}); wait for it to finish or stop it`);
      }
      this.takeOverStale(owner);
    }
    throw new LabBusyError(`lab ${this.labName} is busy: could not take its lock ${this.file}`);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      const owner = readOwner(this.file);
      if (owner?.pid === process.pid) unlinkSync(this.file);
    } catch {
      /* already gone */
    }
  }

  /**
   * Moves the stale lock aside. If another process replaced it between our read and
   * the rename, the moved file is not the stale one: put it back and let the next
   * attempt report that process as the owner.
   */
  private takeOverStale(seen: LockOwner | undefined): void {
    const aside = `${this.file}.stale.${process.pid}`;
    try {
      renameSync(this.file, aside);
    } catch {
      return; // someone else moved it first
    }
    const moved = readOwner(aside);
    if (seen && moved && (moved.pid !== seen.pid || moved.started !== seen.started) && isAlive(moved)) {
      try {
        renameSync(aside, this.file);
      } catch {
        /* the next attempt will see whatever is there */
      }
      return;
    }
    try {
      unlinkSync(aside);
    } catch {
      /* ignore */
    }
  }
}

function readOwner(file: string): LockOwner | undefined {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
    return typeof data.pid === 'number' ? data : undefined;
  } catch {
    return undefined; // empty or half-written: treated as stale
  }
}

function isAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = processStartTime(owner.pid);
  return owner.started === undefined || started === undefined || started === owner.started;
}

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22 (starttime); the command name in field 2 may hold spaces, so split after ")"
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}
