import { withRedis, type RedisTarget } from './redis-probe.js';

/** One line of CLUSTER NODES, the fields labctl uses. */
export interface ClusterNodeLine {
  id: string;
  /** ip:port, without the bus port */
  addr: string;
  flags: string[];
  /** the master's id for a replica, undefined for a master */
  masterId?: string;
  connected: boolean;
  /** how many slots it serves */
  slots: number;
}

/** What one node says of the cluster: CLUSTER INFO's fields and its CLUSTER NODES. */
export interface NodeView {
  info: Record<string, string>;
  nodes: ClusterNodeLine[];
}

export const CLUSTER_SLOTS = 16384;

export function parseClusterInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** CLUSTER NODES: `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...` */
export function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim())
    .map((line) => {
      const f = line.trim().split(/\s+/);
      const slots = f.slice(8).reduce((n, s) => {
        if (s.startsWith('[')) return n; // a slot being migrated, counted where it is
        const [a, b] = s.split('-').map(Number);
        return n + (b === undefined ? 1 : b - a! + 1);
      }, 0);
      return {
        id: f[0]!,
        addr: f[1]!.split('@')[0]!,
        flags: f[2]!.split(','),
        masterId: f[3] === '-' ? undefined : f[3],
        connected: f[7] === 'connected',
        slots,
      };
    });
}

/** Asks one node; throws when it does not answer (or is not in cluster mode). */
export async function readNodeView(target: RedisTarget, timeoutMs = 2000): Promise<NodeView> {
  return withRedis(
    target,
    async (c) => {
      const info = parseClusterInfo(String(await c.call('CLUSTER', 'INFO')));
      const nodes = parseClusterNodes(String(await c.call('CLUSTER', 'NODES')));
      return { info, nodes };
    },
    timeoutMs,
  );
}
