import { CLUSTER_BUS_OFFSET, redisMachines, type LabSpec, type MachineSpec } from '../../spec/types.js';
import { renderTemplate } from '../../util/template.js';

/** What a replica is promoted after: short enough for a lab's failover, above its network's delays. */
export const CLUSTER_NODE_TIMEOUT_MS = 5000;

export const isCluster = (spec: LabSpec) => spec.redis.topology === 'cluster';

export function clusterBusPort(spec: LabSpec): number {
  return spec.redis.port + CLUSTER_BUS_OFFSET;
}

/** The other redis machines: the only ones that may reach a node's cluster bus. */
export function clusterPeers(spec: LabSpec, m: MachineSpec): MachineSpec[] {
  return redisMachines(spec).filter((x) => x.name !== m.name);
}

/** What a cluster node's redis.conf has after the single Redis's settings (templates/redis/cluster.conf). */
export function clusterConfigSection(spec: LabSpec, m: MachineSpec, password: string): string {
  return renderTemplate('redis/cluster.conf', { lab: spec.name, node: m.name, ip: m.ip, nodeTimeoutMs: CLUSTER_NODE_TIMEOUT_MS, password });
}

/** A cluster node's nftables ruleset: the single Redis's, plus the bus from its peers. */
export function clusterNftables(spec: LabSpec, m: MachineSpec): string {
  return renderTemplate('redis/nftables-cluster.conf', {
    lab: spec.name,
    node: m.name,
    subnet: spec.network.cidr,
    port: spec.redis.port,
    busPort: clusterBusPort(spec),
    peers: clusterPeers(spec, m).map((p) => p.ip).join(', '),
  });
}

/** ufw.sh's arguments: subnet and port, and with a cluster the bus port and the peers allowed on it. */
export function ufwArgs(spec: LabSpec, m: MachineSpec): string[] {
  const base = [spec.network.cidr, String(spec.redis.port)];
  return isCluster(spec) ? [...base, String(clusterBusPort(spec)), ...clusterPeers(spec, m).map((p) => p.ip)] : base;
}

/** Every node as redis-cli --cluster create wants it, masters first (spec order). */
export function clusterNodeList(spec: LabSpec): string[] {
  return redisMachines(spec).map((m) => `${m.ip}:${spec.redis.port}`);
}

/** The app's REDIS_TOPOLOGY and REDIS_NODES (every redis machine, the cluster's seeds; empty for single). */
export function redisTopologySettings(spec: LabSpec): { redisTopology: string; redisNodes: string } {
  return { redisTopology: spec.redis.topology, redisNodes: isCluster(spec) ? clusterNodeList(spec).join(',') : '' };
}
