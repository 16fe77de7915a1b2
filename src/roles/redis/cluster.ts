import type { Step } from '../../engine/step.js';
import type { LabContext, MachineAccess } from '../../providers/provider.js';
import { clusterMasters, redisMachines } from '../../spec/types.js';
import { OperationError } from '../../util/errors.js';
import { sleep } from '../../util/time.js';
import { clusterFormed, describeShards, surveyCluster } from '../../verify/cluster-health.js';
import { readNodeView } from '../../verify/cluster-probe.js';
import { runScript, scriptCommand, withConnection } from '../script.js';
import { clusterNodeList } from './cluster-config.js';
import { redisPassword } from './index.js';
import { redisPaths } from './paths.js';

export const CLUSTER_CREATE_STEP = 'redis-cluster:create';
/** How long the nodes may take to agree (cluster_state:ok) once the slots are given out. */
const AGREE_SECONDS = 30;

/**
 * Forming the Redis Cluster, once every node's redis-server runs: on the first node,
 * `redis-cli --cluster create` with the masters (the first redis machines), then each replica
 * added to its master in spec order (templates/redis/cluster-create.sh), then every node must say
 * cluster_state:ok. Done when every node knows all the others, all slots are assigned and as
 * many masters as the spec asks hold them. `labctl start` runs it too, to wait for the cluster.
 */
export function clusterCreateSteps(lab: LabContext, first: MachineAccess, serviceSteps: string[]): Step[] {
  const spec = lab.spec;
  const nodes = redisMachines(spec);
  const paths = redisPaths(first.root, spec.redis.version);
  const args = () => [`${paths.prefix}/bin/redis-cli`, paths.passwordFile, String(spec.redis.masters), String(AGREE_SECONDS), ...clusterNodeList(spec)];
  const shape = `${spec.redis.masters} masters${spec.redis.replicasPerMaster ? ` + ${spec.redis.masters * spec.redis.replicasPerMaster} replicas` : ''}`;
  return [
    {
      id: CLUSTER_CREATE_STEP,
      title: `Redis Cluster: ${shape} over ${nodes.map((n) => n.name).join(', ')} (redis-cli --cluster create)`,
      machine: first.machine.name,
      deps: serviceSteps,
      describe: () => ({ command: scriptCommand('redis/cluster-create.sh', args()) }),
      check: async () => {
        await first.guardRoute?.();
        return clusterFormed(spec, await surveyCluster(spec, redisPassword(lab)));
      },
      apply: async (ctx) => {
        await first.guardRoute?.();
        const r = await withConnection(first, (t) => runScript(t, first, 'redis/cluster-create.sh', args(), { timeoutMs: (AGREE_SECONDS + 60) * 1000 }));
        for (const line of r.stdout.trim().split('\n')) ctx.log(line);
        if (r.code !== 0) {
          const tail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-6);
          throw new OperationError(
            r.code === 4 ? `the Redis Cluster did not reach cluster_state:ok within ${AGREE_SECONDS} s` : 'redis-cli --cluster create failed',
            // a node made anew (recreate) comes back empty while the others still list its old self
            [...tail, 'a redis machine made anew on its own (labctl recreate) cannot take its old place in the cluster: labctl teardown, then up'],
          );
        }
        // a fresh cluster's masters must be the spec's first ones: verify, failover and the docs
        // name them. A cluster found formed (a start, a resumed run) may have failed over since:
        // its masters are whoever holds the slots now. The first node learns the replicas' new
        // role by gossip: a few hundred ms after add-node
        const resumed = /the masters already hold all 16384 slots/.test(r.stdout);
        const want = new Set(clusterMasters(spec).map((m) => `${m.ip}:${spec.redis.port}`));
        const deadline = Date.now() + 10_000;
        let view;
        let got: string[] = [];
        for (;;) {
          view = await readNodeView({ host: first.machine.ip, port: spec.redis.port, password: redisPassword(lab) });
          got = view.nodes.filter((n) => n.flags.includes('master') && (!resumed || n.slots > 0)).map((n) => n.addr);
          if (resumed ? got.length === want.size : got.length === want.size && got.every((a) => want.has(a))) break;
          if (Date.now() > deadline) {
            throw new OperationError(`the cluster's masters are ${got.join(', ')}, not the spec's first ${spec.redis.masters} redis machines (${[...want].join(', ')})`);
          }
          await sleep(200);
        }
        const shards = describeShards(spec, view);
        ctx.log(shards);
        return { shards };
      },
    },
  ];
}
