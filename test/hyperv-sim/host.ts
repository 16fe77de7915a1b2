/**
 * A simulated Windows host with Hyper-V for the tests: a folder holding its state
 * (state.json), its C: drive and its disks, the cmdlets generated for it, and the session
 * configuration that loads the simulator into real PowerShell 7. labctl reaches it exactly as
 * it reaches a Windows host: its own PowerShell runner, only with the executable
 * test/hyperv-sim/pwsh-sim instead of powershell.exe (LABCTL_POWERSHELL).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { powerShellRunner, type PowerShellRunner } from '../../src/transports/powershell.js';
// @ts-expect-error: a plain .mjs script with no types
import { generate } from './generate.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..');
export const PWSH_SIM = path.join(here, 'pwsh-sim');
export const PWSH = process.env.LABCTL_PWSH ?? path.join(REPO, '.tools', 'pwsh', 'pwsh');

/** Says how to get PowerShell when it is missing: the tests fail with this, never skip. */
export function requirePwsh(): void {
  if (!existsSync(PWSH)) {
    throw new Error(`PowerShell 7 is not installed at ${PWSH}: run scripts/install-pwsh.sh (needs the .NET SDK)`);
  }
}

export type SimState = Record<string, any>;

export interface SimHostOptions {
  /** seconds each simulated phase takes (boot, install, setup, msi, ...) */
  timing?: Record<string, number>;
  /** changes to the initial state before it is written */
  patch?: (state: SimState) => void;
  /** keep the folder after dispose (debugging) */
  keep?: boolean;
}

export function initialState(timing: Record<string, number> = {}): SimState {
  return {
    version: 1,
    config: {
      timing: { bootSeconds: 0.5, heartbeatSeconds: 0.5, installSeconds: 2, setupSeconds: 1, shutdownSeconds: 0.2, msiSeconds: 0.5, ...timing },
      // hosts before Windows Server 2022 / Windows 11 allow a single NetNat (null: no limit)
      natLimit: null,
      failures: {},
    },
    host: {
      computerName: 'HVHOST',
      caption: 'Microsoft Windows Server 2022 Datacenter',
      build: '20348',
      elevated: true,
      hyperVModule: true,
      freeMemoryBytes: 64 * 2 ** 30,
      volumes: [{ letter: 'C', size: 1024 * 2 ** 30, sizeRemaining: 600 * 2 ** 30, fileSystem: 'NTFS', label: 'OS' }],
      services: {
        vmms: { displayName: 'Hyper-V Virtual Machine Management', status: 'Running', startType: 'Automatic' },
      },
      executionPolicy: { MachinePolicy: 'Undefined', UserPolicy: 'Undefined', Process: 'Undefined', CurrentUser: 'Undefined', LocalMachine: 'RemoteSigned' },
      registry: {},
      adapters: [
        {
          ifIndex: 4,
          name: 'Ethernet',
          description: 'Intel(R) Ethernet Connection',
          mac: '00-15-5D-00-04-01',
          status: 'Up',
          kind: 'physical',
          switchName: null,
          dhcp: true,
          ips: [{ ip: '192.168.50.20', prefix: 24 }],
          dns: ['192.168.50.1'],
          gateway: '192.168.50.1',
        },
      ],
      routes: [],
      drives: {},
      nextIfIndex: 10,
      nextDiskNumber: 1,
    },
    switches: [],
    nats: [],
    disks: [],
    images: [],
    vms: [],
  };
}

export class SimHost {
  readonly dir: string;
  private runnerInstance: PowerShellRunner | undefined;

  constructor(private readonly options: SimHostOptions = {}) {
    requirePwsh();
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-sim-'));
    generate(path.join(this.dir, '.generated'));
    // a session configuration: PowerShell runs its ScriptsToProcess before reading commands
    const startScript = path.join(here, 'runtime', 'session-start.ps1').replace(/'/g, "''");
    writeFileSync(
      path.join(this.dir, '.generated', 'sim.pssc'),
      `@{\n  SchemaVersion = '2.0.0.0'\n  GUID = '5f1b9a3e-6c2d-4e7f-8a90-1b2c3d4e5f60'\n  SessionType = 'Default'\n  ScriptsToProcess = '${startScript}'\n}\n`,
    );
    mkdirSync(path.join(this.dir, 'host', 'C'), { recursive: true });
    const state = initialState(options.timing);
    options.patch?.(state);
    this.write(state);
  }

  /** What labctl (as a child process) needs to reach this host instead of a Windows one. */
  env(): Record<string, string> {
    return { LABCTL_POWERSHELL: PWSH_SIM, LABCTL_SIM_HOME: this.dir, LABCTL_PWSH: PWSH };
  }

  read(): SimState {
    return JSON.parse(readFileSync(path.join(this.dir, 'state.json'), 'utf8'));
  }

  write(state: SimState): void {
    const file = path.join(this.dir, 'state.json');
    // renamed into place: a session never reads half a file
    writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 1));
    renameSync(`${file}.tmp`, file);
  }

  /** Changes the state between calls (tests inject faults this way). */
  update(change: (state: SimState) => void): void {
    const s = this.read();
    change(s);
    this.write(s);
  }

  /** Where a path of the host's C: drive lives here. */
  local(windowsPath: string): string {
    const m = /^[Cc]:[\\/]?(.*)$/.exec(windowsPath);
    if (!m) throw new Error(`not a path on the host's C: drive: ${windowsPath}`);
    return path.join(this.dir, 'host', 'C', ...m[1]!.split(/[\\/]+/).filter(Boolean));
  }

  /** Puts a file on the host's C: drive. */
  putFile(windowsPath: string, content: string | Uint8Array): string {
    const file = this.local(windowsPath);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
    return file;
  }

  /** An Ubuntu live-server ISO as the simulator knows it (the installer boots from it). */
  putUbuntuIso(windowsPath: string): void {
    this.putFile(windowsPath, `LABCTL-SIM-ISO ubuntu-live-server ${JSON.stringify({ version: '24.04.3' })}\n`);
  }

  /** A Windows Server ISO whose install.wim holds these images. */
  putWindowsIso(windowsPath: string, images = [{ index: 1, name: 'Windows Server 2022 Standard' }, { index: 2, name: 'Windows Server 2022 Standard (Desktop Experience)' }]): void {
    this.putFile(windowsPath, `LABCTL-SIM-ISO windows-server ${JSON.stringify({ images })}\n`);
  }

  /** labctl's own runner (src/transports/powershell-session.ts) over sessions of this host. */
  runner(): PowerShellRunner {
    this.runnerInstance ??= powerShellRunner(PWSH_SIM, 4, this.env());
    return this.runnerInstance;
  }

  /** Runs one template (e.g. "hyperv/new-vm.ps1") with named parameters, as labctl does. */
  async invoke<T = unknown>(script: string, params: Record<string, unknown>, timeoutMs = 60_000): Promise<T> {
    try {
      return await this.runner().invoke<T>(script, params, { timeoutMs });
    } catch (err) {
      // a call without an answer: show what every session of this host was doing
      if (err instanceof Error && /did not answer/.test(err.message)) err.message += `\n${script}; the simulated host's trace:\n${this.traceTail()}`;
      throw err;
    }
  }

  /** The last lines of trace.log: each session's cmdlet calls and long waits for the state lock. */
  traceTail(lines = 40): string {
    const file = path.join(this.dir, 'trace.log');
    if (!existsSync(file)) return '(no trace: no cmdlet ran)';
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  async dispose(): Promise<void> {
    await this.runnerInstance?.dispose();
    this.runnerInstance = undefined;
    if (!this.options.keep) rmSync(this.dir, { recursive: true, force: true });
  }
}
