import type { Command } from 'commander';
import { openLab, type GlobalOptions, type Lab } from '../context.js';
import { print, printJson } from '../output.js';
import { table } from '../reporter.js';
import type { MachineStatus } from '../../providers/provider.js';
import { browserUrls, lbMachine } from '../../spec/types.js';
import { REDIS_PASSWORD_SECRET, redisPassword } from '../../roles/redis/index.js';
import { clusterStatus, type ClusterStatus } from '../../verify/cluster-health.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('each machine: name, role, os, address and its live state (running / stopped / missing)')
    .addHelpText('after', '\nExamples:\n  labctl status\n  labctl status --json | jq \'.machines[] | select(.state != "running")\'')
    .action(async (_opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const lab = openLab(g, 'status', { lock: false });
      const machines = await lab.provider.status(lab).finally(() => lab.close());
      const lb = lbMachine(lab.spec);
      const cluster = await redisClusterStatus(lab, machines);
      if (g.json) printJson({ lab: lab.spec.name, provider: lab.provider.name, created: lab.store.exists(), machines, ...(lb ? { address: browserUrls(lab.spec)[0]!.url } : {}), ...(cluster ? { redisCluster: cluster } : {}) });
      else {
        printStatus(lab, machines);
        if (cluster) print(`redis cluster: ${cluster.summary}`);
      }
    });
}

export function printStatus(lab: Lab, machines: MachineStatus[]): void {
  print(`lab ${lab.spec.name} (${lab.provider.name}, ${lab.spec.network.cidr})`);
  print(
    table(
      ['MACHINE', 'ROLE', 'OS', 'ADDRESS', 'STATE'],
      machines.map((m) => [
        m.name,
        m.role,
        m.standIn ? `${m.os} (${m.standIn} stand-in on ${lab.provider.name})` : m.os,
        m.address,
        m.detail ? `${m.state}: ${m.detail}` : m.state,
      ]),
    ),
  );
  // with a load balancer the lab has one address for browsers: its own
  const lb = lbMachine(lab.spec);
  if (lb) print(`open the lab in a browser at ${browserUrls(lab.spec)[0]!.url} (load balancer ${lb.name})`);
}

/**
 * With redis.topology cluster: what the nodes say of the cluster (asked from the host, 1 s per
 * node), once the lab has its Redis password and a redis machine runs. Undefined otherwise.
 */
async function redisClusterStatus(lab: Lab, machines: MachineStatus[]): Promise<ClusterStatus | undefined> {
  if (lab.spec.redis.topology !== 'cluster' || !lab.store.exists() || !lab.store.secrets.has(REDIS_PASSWORD_SECRET)) return undefined;
  if (!machines.some((m) => m.role === 'redis' && m.state === 'running')) return { ok: false, summary: 'no redis machine is running', nodes: [] };
  return clusterStatus(lab.spec, redisPassword(lab));
}
