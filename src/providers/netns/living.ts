import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MachineSpec } from '../../spec/types.js';
import { redisPaths } from '../../roles/redis/paths.js';
import { webPaths } from '../../roles/web-linux/paths.js';
import { OperationError, UsageError } from '../../util/errors.js';
import { runHost } from '../../util/exec.js';
import { followFile, tailFile } from '../../living/files.js';
import { hostKeyFact } from '../lab-keys.js';
import type { LabContext, LivingOps, LogSource, MachineCheckpoint } from '../provider.js';
import { killAll, namespaceExists, namespacePids } from './host.js';
import { machineLayout } from './layout.js';
import { namespaceName } from './names.js';

interface CheckpointMeta {
  name: string;
  created: string;
  machines: string[];
  /** the host keys the machines' folders hold, as labctl pins them */
  hostKeys: Record<string, string>;
}

const META = 'checkpoint.json';

/**
 * netns machines between create and teardown. A machine's "power" is its processes: stop ends
 * every process in its namespace (sshd, Redis, the app), keeping the namespace, its link and
 * its folder; start is its create steps (sshd) and deploy steps (the services) again. A
 * checkpoint is a copy of each machine's folder taken while its processes are stopped (so
 * Redis's dump and every file are as they were on disk at that moment), under
 * <lab>/checkpoints/<name>/machines/<machine>.
 */
export function netnsLiving(lab: LabContext): LivingOps {
  const { store, spec } = lab;
  const dirOf = (name: string) => path.join(store.paths.checkpoints, name);

  const readMeta = (name: string): CheckpointMeta | undefined => {
    try {
      return JSON.parse(readFileSync(path.join(dirOf(name), META), 'utf8')) as CheckpointMeta;
    } catch {
      return undefined;
    }
  };

  return {
    checkpointsWhileStopped: true,

    async stop(machines, { save, log }) {
      if (save) throw new UsageError('--save keeps a VM\'s memory (Hyper-V Save-VM): netns machines have none to keep; labctl stop stops their processes');
      await Promise.all(
        machines.map(async (m) => {
          const ns = namespaceName(spec.name, m.name);
          if (!namespaceExists(ns)) throw new OperationError(`${m.name}: its namespace ${ns} is missing (labctl recreate ${m.name} makes it again)`);
          const pids = await namespacePids(ns);
          await killAll(pids);
          log(`${m.name}: ${pids.length} process${pids.length === 1 ? '' : 'es'} stopped (sshd, services); its folder and network are kept`);
        }),
      );
    },

    async powerOn() {
      // nothing to switch on: the machine's create steps start its sshd
    },

    async checkpointSave(name, machines, log) {
      const dir = dirOf(name);
      if (existsSync(dir)) throw new UsageError(`checkpoint ${name} exists: labctl checkpoint remove ${name} first, or pick another name`);
      const partial = `${dir}.partial-${process.pid}`;
      rmSync(partial, { recursive: true, force: true });
      mkdirSync(path.join(partial, 'machines'), { recursive: true, mode: 0o700 });
      try {
        const hostKeys: Record<string, string> = {};
        for (const m of machines) {
          // -a keeps modes, owners and times (Redis's files, the 0600 secrets); reflinks where the filesystem has them
          await runHost('cp', ['-a', '--reflink=auto', store.machineDir(m.name), path.join(partial, 'machines', m.name)]);
          const key = store.fact<string>(hostKeyFact(m.name));
          if (key) hostKeys[m.name] = key;
          log(`${m.name}: folder copied`);
        }
        const meta: CheckpointMeta = { name, created: new Date().toISOString(), machines: machines.map((m) => m.name), hostKeys };
        writeFileSync(path.join(partial, META), JSON.stringify(meta, null, 2) + '\n', { mode: 0o600 });
        renameSync(partial, dir);
      } catch (err) {
        rmSync(partial, { recursive: true, force: true });
        throw err;
      }
    },

    async checkpointRestore(name, machines, log) {
      const meta = readMeta(name);
      if (!meta) throw new UsageError(`no checkpoint ${name} (labctl checkpoint list)`);
      for (const m of machines) {
        const copy = path.join(dirOf(name), 'machines', m.name);
        if (!meta.machines.includes(m.name) || !existsSync(copy)) throw new OperationError(`checkpoint ${name} has no copy of ${m.name}`);
        const current = store.machineDir(m.name);
        const old = `${current}.replaced-${process.pid}`;
        rmSync(old, { recursive: true, force: true });
        if (existsSync(current)) renameSync(current, old);
        try {
          await runHost('cp', ['-a', '--reflink=auto', copy, current]);
        } catch (err) {
          rmSync(current, { recursive: true, force: true });
          if (existsSync(old)) renameSync(old, current);
          throw err;
        }
        rmSync(old, { recursive: true, force: true });
        // the folder holds the machine's sshd host key of that moment: pin that one again
        const key = meta.hostKeys[m.name];
        if (key && store.fact(hostKeyFact(m.name)) !== key) store.setFact(hostKeyFact(m.name), key);
        log(`${m.name}: folder restored`);
      }
    },

    async checkpointList(machines) {
      if (!existsSync(store.paths.checkpoints)) return [];
      const out: MachineCheckpoint[] = [];
      for (const entry of readdirSync(store.paths.checkpoints).sort()) {
        const meta = readMeta(entry);
        if (!meta) continue;
        for (const m of machines) {
          if (meta.machines.includes(m.name)) out.push({ machine: m.name, name: meta.name, created: meta.created, type: 'files' });
        }
      }
      return out;
    },

    async checkpointRemove(name, _machines, log) {
      if (!readMeta(name)) throw new UsageError(`no checkpoint ${name} (labctl checkpoint list)`);
      rmSync(dirOf(name), { recursive: true, force: true });
      log(`checkpoint ${name} removed`);
    },

    logs(m: MachineSpec): LogSource[] {
      const files = machineLayout(store, m.name);
      const redis = redisPaths(files.root, spec.redis.version);
      const entries: [LogSource['kind'], string][] =
        m.role === 'redis'
          ? [
              ['redis', redis.logFile],
              ['build', redis.buildLog],
              ['sshd', files.sshdLog],
            ]
          : m.role === 'lb'
            ? // HAProxy here logs nowhere (no syslog in a namespace): its machine has only sshd's log
              [['sshd', files.sshdLog]]
            : [
                ['app', webPaths(files.root, '').logFile],
                ['sshd', files.sshdLog],
              ];
      return entries.map(([kind, file]) => localLog(kind, file));
    },
  };
}

/** A log that is a file on this host (a netns machine's folder is on the host's disk). */
export function localLog(kind: LogSource['kind'], file: string): LogSource {
  return {
    kind,
    where: file,
    tail: async (lines) => tailFile(file, lines).text,
    follow: (lines, write, signal) => followFile(file, lines, write, signal),
  };
}
