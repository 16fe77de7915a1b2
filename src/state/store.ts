import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { OperationError } from '../util/errors.js';
import { writeFileAtomic } from './atomic.js';
import { LabLock } from './lock.js';
import { SecretStore } from './secrets.js';

/** Something labctl created and must remove on teardown. Recorded before it is created. */
export interface Resource {
  kind: string;
  id: string;
  machine?: string;
  data?: Record<string, unknown>;
  at: string;
}

export interface StepRecord {
  at: string;
  info?: Record<string, unknown>;
}

export interface StateFile {
  version: 1;
  lab: string;
  provider: string;
  spec: { file: string; hash: string };
  createdAt: string;
  updatedAt: string;
  steps: Record<string, StepRecord>;
  resources: Resource[];
  facts: Record<string, unknown>;
}

export function labsRoot(home: string): string {
  return path.join(home, 'labs');
}

export interface LabPaths {
  dir: string;
  state: string;
  lock: string;
  secrets: string;
  machines: string;
  /** written by verify --browser */
  screenshots: string;
  /** a copy of the spec the lab was created from (labctl --lab NAME reads it) */
  spec: string;
  /** netns checkpoints: a copy of each machine's folder per checkpoint */
  checkpoints: string;
}

export function labPaths(home: string, lab: string): LabPaths {
  const dir = path.join(labsRoot(home), lab);
  return {
    dir,
    state: path.join(dir, 'state.json'),
    lock: path.join(dir, 'lock'),
    secrets: path.join(dir, 'secrets'),
    machines: path.join(dir, 'machines'),
    screenshots: path.join(dir, 'screenshots'),
    spec: path.join(dir, 'spec.yaml'),
    checkpoints: path.join(dir, 'checkpoints'),
  };
}

/**
 * The journal of one lab. Every change is written to disk at once (atomically), so a
 * crash at any point leaves a state file that says exactly what exists.
 */
export class LabStore {
  readonly paths: LabPaths;
  readonly secrets: SecretStore;
  private lock: LabLock;
  private data: StateFile | undefined;
  private madeFrom: string | undefined;

  constructor(
    readonly home: string,
    readonly lab: string,
  ) {
    this.paths = labPaths(home, lab);
    this.secrets = new SecretStore(this.paths.secrets);
    this.lock = new LabLock(this.paths.lock, lab);
  }

  exists(): boolean {
    return existsSync(this.paths.state);
  }

  /** Creates the lab folder if needed and takes the lab's lock. */
  open(command: string): void {
    // the first folder this call made (home, labs/ or the lab's), so close() can take back
    // what a command that ended up writing nothing (bad input, failed preflight) created
    this.madeFrom = mkdirSync(this.paths.dir, { recursive: true, mode: 0o700 });
    this.lock.acquire(command);
    if (this.exists()) this.data = this.read();
  }

  close(): void {
    this.lock.release();
    if (!this.madeFrom) return;
    for (let dir = this.paths.dir; ; dir = path.dirname(dir)) {
      try {
        rmdirSync(dir); // only ever removes an empty folder
      } catch {
        break;
      }
      if (dir === this.madeFrom) break;
    }
    this.madeFrom = undefined;
  }

  /** Reads the state without taking the lock (status, plan). */
  peek(): StateFile | undefined {
    return this.exists() ? this.read() : undefined;
  }

  /** Loads the journal for reading only: no lock is taken, so nothing may be written. */
  openReadOnly(): void {
    this.data = this.peek();
  }

  get state(): StateFile | undefined {
    return this.data;
  }

  init(provider: string, spec: { file: string; hash: string }): StateFile {
    if (this.data) {
      if (this.data.provider !== provider) {
        throw new OperationError(
          `lab ${this.lab} was created with the ${this.data.provider} provider; tear it down before using ${provider}`,
        );
      }
      this.data.spec = spec;
      this.save();
      return this.data;
    }
    const now = new Date().toISOString();
    this.data = { version: 1, lab: this.lab, provider, spec, createdAt: now, updatedAt: now, steps: {}, resources: [], facts: {} };
    this.save();
    return this.data;
  }

  private require(): StateFile {
    if (!this.data) throw new Error(`lab ${this.lab} has no state yet`);
    return this.data;
  }

  /** Keeps a copy of the spec's text in the lab folder (0600: it may name local files). */
  recordSpec(text: string): void {
    writeFileAtomic(this.paths.spec, text, 0o600);
  }

  /** The spec recorded at create, or undefined (a lab made before labctl kept one). */
  recordedSpec(): string | undefined {
    try {
      return readFileSync(this.paths.spec, 'utf8');
    } catch {
      return undefined;
    }
  }

  isStepDone(id: string): boolean {
    return Boolean(this.data?.steps[id]);
  }

  markStepDone(id: string, info?: Record<string, unknown>): void {
    this.require().steps[id] = { at: new Date().toISOString(), ...(info ? { info } : {}) };
    this.save();
  }

  forgetSteps(predicate: (id: string) => boolean): void {
    const state = this.require();
    for (const id of Object.keys(state.steps)) if (predicate(id)) delete state.steps[id];
    this.save();
  }

  addResource(resource: Omit<Resource, 'at'>): void {
    const state = this.require();
    if (state.resources.some((r) => r.kind === resource.kind && r.id === resource.id)) return;
    state.resources.push({ ...resource, at: new Date().toISOString() });
    this.save();
  }

  removeResource(kind: string, id: string): void {
    const state = this.require();
    state.resources = state.resources.filter((r) => !(r.kind === kind && r.id === id));
    this.save();
  }

  resources(): Resource[] {
    return [...(this.data?.resources ?? [])];
  }

  fact<T>(key: string): T | undefined {
    return this.data?.facts[key] as T | undefined;
  }

  setFact(key: string, value: unknown): void {
    const state = this.require();
    if (value === undefined) delete state.facts[key];
    else state.facts[key] = value;
    this.save();
  }

  machineDir(machine: string): string {
    return path.join(this.paths.machines, machine);
  }

  /** Removes the state file, secrets, screenshots and every machine folder; the last step of teardown. */
  destroy(): void {
    rmSync(this.paths.machines, { recursive: true, force: true });
    rmSync(this.paths.screenshots, { recursive: true, force: true });
    rmSync(this.paths.secrets, { recursive: true, force: true });
    rmSync(this.paths.checkpoints, { recursive: true, force: true });
    rmSync(this.paths.spec, { force: true });
    rmSync(this.paths.state, { force: true });
    // temporary files of writes cut short by a crash or a kill (see writeFileAtomic and LabLock)
    const tmp = /^(?:\.(?:state\.json|spec\.yaml)\.(\d+)\.tmp|lock(?:\.takeover)?\.(\d+)\.new)$/;
    for (const entry of existsSync(this.paths.dir) ? readdirSync(this.paths.dir) : []) {
      const m = tmp.exec(entry);
      if (m && !processExists(Number(m[1] ?? m[2]))) rmSync(path.join(this.paths.dir, entry), { force: true });
    }
    this.data = undefined;
  }

  private save(): void {
    const state = this.require();
    state.updatedAt = new Date().toISOString();
    writeFileAtomic(this.paths.state, JSON.stringify(state, null, 2) + '\n', 0o600);
  }

  private read(): StateFile {
    try {
      const data = JSON.parse(readFileSync(this.paths.state, 'utf8')) as StateFile;
      if (data.version !== 1) throw new Error(`unknown state version ${String(data.version)}`);
      return data;
    } catch (err) {
      throw new OperationError(`${this.paths.state} is unreadable (${(err as Error).message}); move it aside to start over`);
    }
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
