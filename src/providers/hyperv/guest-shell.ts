import { templatePath } from '../../util/template.js';
import { OperationError } from '../../util/errors.js';
import type { MachineSpec } from '../../spec/types.js';
import type { ExecOptions, ExecResult, Transport } from '../../transports/transport.js';
import { powershellExecutable } from '../../transports/powershell.js';
import { WINDOWS_ADMIN, machinePaths } from './config.js';
import { invoke, type HypervEnv } from './env.js';
import { adminPassword, adminPasswordSecret } from './steps-windows.js';

/**
 * A Windows VM behind labctl's Transport interface, over PowerShell Direct: `labctl ssh web1
 * -- CMD` runs CMD (a PowerShell command line) in the guest through guest-exec.ps1 and
 * returns its output and exit code. Files go through the web role's own scripts instead.
 */
export class PowerShellDirectTransport implements Transport {
  readonly machine: string;

  constructor(
    private readonly env: HypervEnv,
    private readonly m: MachineSpec,
  ) {
    this.machine = m.name;
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await invoke<{ output: string; exitCode: number }>(
      this.env,
      {
        script: 'hyperv/guest-exec.ps1',
        params: {
          VMName: machinePaths(this.env.cfg, this.m).vm,
          UserName: WINDOWS_ADMIN,
          Password: adminPassword(this.env.lab.store, this.m.name),
          Command: command,
          ...(opts.stdin !== undefined ? { InputText: opts.stdin.toString() } : {}),
        },
      },
      undefined,
      opts.timeoutMs ?? 30 * 60_000,
    );
    const output = r.output ?? '';
    if (output) opts.onStdout?.(Buffer.from(output));
    return { code: Number(r.exitCode ?? 0), stdout: output, stderr: '' };
  }

  async run(command: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(command, opts);
    if (r.code !== 0) throw new OperationError(`${this.m.name}: "${command}" exited with ${r.code}`, r.stdout.trim().split(/\r?\n/).slice(-10));
    return r.stdout;
  }

  upload(): Promise<void> {
    return Promise.reject(new OperationError(`${this.m.name}: file copies to a Windows VM go through the web role, not this shell`));
  }

  writeFile(): Promise<void> {
    return this.upload();
  }

  readFile(): Promise<Buffer> {
    return Promise.reject(new OperationError(`${this.m.name}: read files with labctl ssh ${this.m.name} -- Get-Content PATH`));
  }

  async close(): Promise<void> {}
}

/**
 * The interactive session: PowerShell in the user's own terminal running guest-shell.ps1,
 * which reads the administrator's password from the lab's secret file (the file's path is on
 * the command line, the password is not) and enters the VM with Enter-PSSession.
 */
export function interactiveGuestShell(env: HypervEnv, m: MachineSpec): { file: string; args: string[] } {
  const executable = powershellExecutable();
  if (!executable) throw new OperationError(`${m.name} is a Windows VM on a Hyper-V host: open its shell from that host`);
  if (!env.lab.store.secrets.has(adminPasswordSecret(m.name))) throw new OperationError(`${m.name} has no administrator password yet: run labctl create first`);
  return {
    file: executable,
    args: [
      '-NoLogo',
      '-NoProfile',
      '-ExecutionPolicy',
      'Bypass',
      '-NoExit',
      '-File',
      templatePath('hyperv/guest-shell.ps1'),
      '-VMName',
      machinePaths(env.cfg, m).vm,
      '-UserName',
      WINDOWS_ADMIN,
      '-PasswordFile',
      env.lab.store.secrets.path(adminPasswordSecret(m.name)),
    ],
  };
}
