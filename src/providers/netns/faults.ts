import { performance } from 'node:perf_hooks';
import { prepareAppKill, prepareRedisRestart } from '../../faults/linux.js';
import { prepareRedisFailover } from '../../faults/redis-failover.js';
import type { FaultOps } from '../../faults/types.js';
import { runHost } from '../../util/exec.js';
import { UsageError } from '../../util/errors.js';
import { sleep } from '../../util/time.js';
import type { LabContext, MachineAccess } from '../provider.js';
import { linkState } from './host.js';
import { vethName } from './names.js';

/**
 * Faults on netns machines: the services' through SSH like any Linux machine, the link on the
 * host: the host end of the machine's veth set down (the machine sees no carrier, nothing passes,
 * connections are not reset) and up again after `downMs`.
 */
export function netnsFaults(lab: LabContext, access: (name: string) => MachineAccess): FaultOps {
  return {
    async prepare(kind, machine, opts) {
      if (kind === 'redis-restart') return prepareRedisRestart(lab, access(machine.name));
      if (kind === 'web-kill') return prepareAppKill(lab, access(machine.name));
      if (kind === 'redis-failover') return prepareRedisFailover(lab, access);
      const veth = vethName(lab.spec.name, machine);
      const state = await linkState(veth);
      if (!state) throw new UsageError(`${machine.name} has no link ${veth} on this host: is the lab created? (labctl status)`);
      return {
        async run() {
          const startedAt = performance.now();
          await runHost('ip', ['link', 'set', veth, 'down']);
          try {
            await sleep(opts.downMs);
          } finally {
            // up again whatever happens: a lab must not be left cut off
            await runHost('ip', ['link', 'set', veth, 'up']);
          }
          const endedAt = performance.now();
          return { kind, target: machine.name, startedAt, endedAt, detail: `${machine.name}'s link (${veth}, host end) down for ${opts.downMs} ms, then up` };
        },
        close: async () => {},
      };
    },
  };
}
