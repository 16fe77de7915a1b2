import { rmSync } from 'node:fs';
import type { MachineSpec } from '../../spec/types.js';
import { redisPaths } from '../../roles/redis/paths.js';
import { SITE } from '../../roles/web-windows/index.js';
import { webPaths } from '../../roles/web-linux/paths.js';
import { shq, type Transport } from '../../transports/transport.js';
import { OperationError } from '../../util/errors.js';
import { sleep } from '../../util/time.js';
import { localLog } from '../netns/living.js';
import type { GuestShell, LivingOps, LogSource, MachineAccess, MachineCheckpoint } from '../provider.js';
import { machinePaths } from './config.js';
import { consoleFile, invoke, type HypervEnv } from './env.js';
import type { ScriptCall } from './scripts.js';

/** The host scripts of the living commands, each a file under templates/hyperv with named parameters. */
export const livingCall = {
  stopVm: (vm: string, save: boolean): ScriptCall => ({ script: 'hyperv/stop-vm.ps1', params: { VMName: vm, ...(save ? { Save: true } : {}) } }),
  startVm: (vm: string): ScriptCall => ({ script: 'hyperv/start-vm.ps1', params: { VMName: vm } }),
  checkpoint: (vm: string, name: string): ScriptCall => ({ script: 'hyperv/checkpoint-vm.ps1', params: { VMName: vm, CheckpointName: name } }),
  restore: (vm: string, name: string): ScriptCall => ({ script: 'hyperv/restore-checkpoint.ps1', params: { VMName: vm, CheckpointName: name } }),
  list: (vms: string[]): ScriptCall => ({ script: 'hyperv/list-checkpoints.ps1', params: { VMName: vms } }),
  remove: (vm: string, name: string): ScriptCall => ({ script: 'hyperv/remove-checkpoint.ps1', params: { VMName: vm, CheckpointName: name } }),
};

/** Long enough for a guest to shut down (Stop-VM -Force gives it five minutes) or a VM to save its memory. */
const POWER_TIMEOUT_MS = 10 * 60_000;

/**
 * Hyper-V machines between create and teardown: Stop-VM / Save-VM / Start-VM, checkpoints of
 * every VM (Checkpoint-VM, Restore-VMSnapshot, Get-VMSnapshot, Remove-VMSnapshot), and logs:
 * an Ubuntu VM's over SSH, its serial console as labctl copied it on this host, a Windows VM's
 * iisnode logs through PowerShell Direct.
 */
export function hypervLiving(
  env: HypervEnv,
  access: (m: MachineSpec) => MachineAccess,
  guestShell: (m: MachineSpec) => GuestShell | undefined,
): LivingOps {
  const vmName = (m: MachineSpec) => machinePaths(env.cfg, m).vm;
  const each = async (machines: MachineSpec[], fn: (m: MachineSpec) => Promise<void>) => {
    // one VM after another: each script waits for its VM, and the host's disks are shared
    for (const m of machines) await fn(m);
  };
  return {
    checkpointsWhileStopped: false,

    stop: (machines, { save, log }) =>
      each(machines, async (m) => {
        const r = await invoke<{ before: string; state: string }>(env, livingCall.stopVm(vmName(m), save), undefined, POWER_TIMEOUT_MS);
        log(`${m.name}: VM ${vmName(m)} ${r.before} → ${r.state}`);
      }),

    powerOn: (machines, log) =>
      each(machines, async (m) => {
        const r = await invoke<{ before: string; state: string }>(env, livingCall.startVm(vmName(m)), undefined, POWER_TIMEOUT_MS);
        log(`${m.name}: VM ${vmName(m)} ${r.before} → ${r.state}${r.before === 'Saved' ? ' (resumed from its saved state)' : ''}`);
      }),

    checkpointSave: (name, machines, log) =>
      each(machines, async (m) => {
        const r = await invoke<{ state: string }>(env, livingCall.checkpoint(vmName(m), name), undefined, POWER_TIMEOUT_MS);
        log(`${m.name}: Checkpoint-VM ${vmName(m)} "${name}" (VM ${r.state})`);
      }),

    checkpointRestore: (name, machines, log) =>
      each(machines, async (m) => {
        const r = await invoke<{ before: string; state: string }>(env, livingCall.restore(vmName(m), name), undefined, POWER_TIMEOUT_MS);
        log(`${m.name}: Restore-VMSnapshot ${vmName(m)} "${name}": ${r.before} → ${r.state}`);
      }),

    async checkpointList(machines) {
      const r = await invoke<{ checkpoints: { vm: string; name: string; created: string }[] }>(env, livingCall.list(machines.map(vmName)), undefined, 120_000);
      const byVm = new Map(machines.map((m) => [vmName(m), m.name]));
      return (r.checkpoints ?? []).flatMap((c): MachineCheckpoint[] => {
        const machine = byVm.get(c.vm);
        return machine ? [{ machine, name: c.name, created: c.created }] : [];
      });
    },

    checkpointRemove: (name, machines, log) =>
      each(machines, async (m) => {
        const r = await invoke<{ removed: number }>(env, livingCall.remove(vmName(m), name), undefined, POWER_TIMEOUT_MS);
        log(`${m.name}: ${r.removed > 0 ? `Remove-VMSnapshot ${vmName(m)} "${name}" (Hyper-V merges its disk)` : 'no such checkpoint'}`);
      }),

    logs(m) {
      const console = localLog('console', consoleFile(env, m));
      if (m.os === 'windows') {
        const shell = guestShell(m);
        return shell ? [iisnodeLog(m, shell)] : [];
      }
      const a = access(m);
      const redis = redisPaths(a.root, env.lab.spec.redis.version);
      const sources: LogSource[] =
        m.role === 'redis'
          ? [remoteFile('redis', a, redis.logFile), remoteFile('build', a, redis.buildLog)]
          : [remoteFile('app', a, webPaths(a.root, '').logFile)];
      sources.push(remoteCommand('sshd', a, 'journalctl -u ssh (the journal)', (n, f) => `journalctl -u ssh --no-pager -n ${n}${f ? ' -f' : ''}`));
      sources.push(console);
      return sources;
    },

    forgetMachine(m) {
      // the machine's files on this side: its seed, its unattend.xml, the copy of its console
      rmSync(env.lab.store.machineDir(m.name), { recursive: true, force: true });
    },
  };
}

/** A log on an Ubuntu VM, read over SSH with tail (as root: the logs are not world-readable). */
function remoteFile(kind: LogSource['kind'], a: MachineAccess, file: string): LogSource {
  return remoteCommand(kind, a, file, (n, follow) => `tail -n ${n}${follow ? ' -F' : ''} ${shq(file)}`);
}

function remoteCommand(kind: LogSource['kind'], a: MachineAccess, where: string, command: (lines: number, follow: boolean) => string): LogSource {
  const wrap = (c: string) => (a.asRoot ? a.asRoot(c) : c);
  return {
    kind,
    where: `${a.machine.name}:${where}`,
    async tail(lines) {
      const t = await a.connect();
      try {
        const r = await t.exec(wrap(command(lines, false)));
        if (r.code !== 0) throw new OperationError(`${a.machine.name}: ${where}: ${r.stderr.trim() || `exit ${r.code}`}`);
        return r.stdout;
      } finally {
        await t.close();
      }
    },
    async follow(lines, write, signal) {
      const t = await a.connect();
      const stop = () => void t.close();
      signal.addEventListener('abort', stop, { once: true });
      try {
        await t.exec(wrap(command(lines, true)), { onStdout: (c) => write(c.toString('utf8')), onStderr: (c) => write(c.toString('utf8')) });
      } catch (err) {
        if (!signal.aborted) throw err;
      } finally {
        signal.removeEventListener('abort', stop);
        await t.close().catch(() => {});
      }
    },
  };
}

/**
 * iisnode's log of the chat site on a Windows VM (iisnode writes one .txt per node process into
 * the site's iisnode folder, loggingEnabled in web.config), read through PowerShell Direct. The
 * site's folder comes from IIS itself, so it is right for either way of publishing.
 */
function iisnodeLog(m: MachineSpec, shell: GuestShell): LogSource {
  const newest = [
    `$site = Get-Website -Name '${SITE}'`,
    `if ($null -eq $site) { Write-Output 'no IIS site ${SITE} on ${m.name} yet (labctl deploy ${m.name})'; exit 3 }`,
    `$dir = Join-Path -Path ([Environment]::ExpandEnvironmentVariables($site.PhysicalPath)) -ChildPath 'iisnode'`,
    `$file = Get-ChildItem -LiteralPath $dir -Filter '*.txt' -ErrorAction SilentlyContinue | Sort-Object LastWriteTime | Select-Object -Last 1`,
    `if ($null -eq $file) { Write-Output "no iisnode log in $dir yet (iisnode starts node on the first request)"; exit 3 }`,
  ].join('; ');
  const run = async (t: Transport, script: string) => {
    const r = await t.exec(script, { timeoutMs: 120_000 });
    if (r.code === 3) throw new OperationError(r.stdout.trim());
    if (r.code !== 0) throw new OperationError(`${m.name}: reading the iisnode log failed (exit ${r.code}): ${r.stdout.trim().split(/\r?\n/).slice(-3).join(' / ')}`);
    return r.stdout;
  };
  return {
    kind: 'app',
    where: `${m.name}: the ${SITE} site's iisnode folder (PowerShell Direct)`,
    tail: async (lines) => run(shell.transport(), `${newest}; Get-Content -LiteralPath $file.FullName -Tail ${lines}`),
    async follow(lines, write, signal) {
      // PowerShell Direct answers once a command ends: the log is read again every 2 s, from the
      // line after the last one written; a new file (a new node process) is read from its start
      const t = shell.transport();
      let file = '';
      let seen = -1;
      while (!signal.aborted) {
        const select = seen < 0 ? `Select-Object -Last ${lines}` : `Select-Object -Skip ${seen}`;
        let out: string | undefined;
        try {
          out = await run(t, `${newest}; $all = @(Get-Content -LiteralPath $file.FullName); Write-Output $file.FullName; Write-Output $all.Count; $all | ${select}`);
        } catch (err) {
          if (!/no iisnode log/.test((err as Error).message)) throw err;
        }
        if (out !== undefined) {
          const [name = '', countText = '0', ...rest] = out.replace(/\r/g, '').replace(/\n$/, '').split('\n');
          const count = Number(countText);
          if (seen >= 0 && (name !== file || count < seen)) {
            file = name;
            seen = 0;
            continue;
          }
          file = name;
          if (rest.length > 0 && count > Math.max(seen, 0)) write(rest.join('\n') + '\n');
          seen = count;
        }
        for (let i = 0; i < 20 && !signal.aborted; i++) await sleep(100);
      }
    },
  };
}
