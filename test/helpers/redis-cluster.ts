/**
 * A real Redis Cluster on loopback (Debian's redis-server 7), for the app's cluster tests:
 * `masters` masters and `replicasPerMaster` replicas each, formed with `redis-cli --cluster create`
 * as labctl does on a lab, the default user behind an admin password and, optionally, the chat
 * user's ACL line on every node. Everything started is killed by `cleanup()`, failures included.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, RedisProcess, waitUntil } from './app-harness.js';

export interface ClusterNode {
  port: number;
  /** the cluster bus (cluster-port), chosen free rather than port + 10000, which may not exist */
  busPort: number;
  process: RedisProcess;
  conf: string;
}

export interface LoopbackClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** the rules after `user chat on` (chatAclRules(...)); none: no chat user */
  chatRules?: string;
  /** how long a silent master takes to be marked failed (and its replica promoted) */
  nodeTimeoutMs?: number;
}

const run = promisify(execFile);

export class LoopbackCluster {
  readonly admin = randomBytes(18).toString('base64url');
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-cluster-test-'));
  readonly nodes: ClusterNode[] = [];
  private readonly clients = new Set<Redis>();

  private constructor(private readonly options: Required<Omit<LoopbackClusterOptions, 'chatRules'>> & { chatRules?: string }) {}

  /** Starts the nodes and forms the cluster; on any failure, removes what it started and throws. */
  static async start(options: LoopbackClusterOptions = {}): Promise<LoopbackCluster> {
    const cluster = new LoopbackCluster({ masters: 3, replicasPerMaster: 0, nodeTimeoutMs: 1000, ...options });
    try {
      const count = cluster.options.masters * (1 + cluster.options.replicasPerMaster);
      for (let i = 0; i < count; i++) cluster.nodes.push(await cluster.startNode(await freePort(), await freePort()));
      await cluster.form();
      return cluster;
    } catch (err) {
      await cluster.cleanup();
      throw err;
    }
  }

  /** REDIS_NODES for the app: every node, as labctl writes it */
  get seeds(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  private async startNode(port: number, busPort: number): Promise<ClusterNode> {
    const conf = path.join(this.dir, `redis-${port}.conf`);
    const lines = [
      `port ${port}`,
      `cluster-port ${busPort}`,
      'bind 127.0.0.1',
      'cluster-enabled yes',
      `cluster-config-file nodes-${port}.conf`,
      `cluster-node-timeout ${this.options.nodeTimeoutMs}`,
      `requirepass ${this.admin}`,
      // a replica authenticates to its master as the default user, as labctl's nodes do
      `masterauth ${this.admin}`,
      'save ""',
      // a fresh replica's first sync otherwise waits 5 s for more replicas to share it; a replica
      // that never synced refuses to fail over (its data is "too old")
      'repl-diskless-sync-delay 0',
      'appendonly no',
      `dir ${this.dir}`,
      ...(this.options.chatRules ? [`user chat on ${this.options.chatRules}`] : []),
    ];
    writeFileSync(conf, `${lines.join('\n')}\n`, { mode: 0o600 });
    const node: ClusterNode = { port, busPort, conf, process: await this.spawn(conf, port) };
    return node;
  }

  private async spawn(conf: string, port: number): Promise<RedisProcess> {
    const proc = spawn('redis-server', [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    const r = new RedisProcess(proc, port, this.admin);
    try {
      await r.waitForOutput('Ready to accept connections', 5000, `cluster node on port ${port}`);
    } catch (err) {
      await r.stop('SIGKILL');
      throw err;
    }
    return r;
  }

  private async form(): Promise<void> {
    await run(
      'redis-cli',
      ['--cluster', 'create', ...this.nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(this.options.replicasPerMaster), '--cluster-yes'],
      { env: { ...process.env, REDISCLI_AUTH: this.admin }, timeout: 30_000 },
    );
    await waitUntil(
      'the cluster to be ok on every node, with every replica attached',
      async () => {
        for (const n of this.nodes) {
          const info = String(await this.adminOn(n.port).call('CLUSTER', 'INFO'));
          if (!/cluster_state:ok/.test(info)) return false;
        }
        const masters = await this.mastersWithReplicas();
        if (masters.length !== this.options.masters || !masters.every((m) => m.replicas === this.options.replicasPerMaster)) return false;
        for (const n of this.nodes) {
          const info = String(await this.adminOn(n.port).call('INFO', 'replication'));
          if (/role:slave/.test(info) && !/master_link_status:up/.test(info)) return false;
        }
        return true;
      },
      20_000,
    );
  }

  /** An admin connection to one node (kept, closed by cleanup). */
  adminOn(port: number): Redis {
    const client = new Redis({ host: '127.0.0.1', port, password: this.admin, maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: false });
    client.on('error', () => {});
    this.clients.add(client);
    return client;
  }

  /** Which node serves `channel`'s slot now: asks a live node's CLUSTER SHARDS (Redis 7). */
  async shardOf(channel: string): Promise<{ slot: number; master: number; replicas: number[] }> {
    const live = this.nodes.find((n) => n.process.running)!;
    const c = this.adminOn(live.port);
    const slot = Number(await c.call('CLUSTER', 'KEYSLOT', channel));
    const shards = (await c.call('CLUSTER', 'SHARDS')) as unknown[][];
    for (const shard of shards) {
      const s = pairs(shard);
      const slots = s.slots as number[];
      let owns = false;
      for (let i = 0; i < slots.length; i += 2) if (slot >= slots[i]! && slot <= slots[i + 1]!) owns = true;
      if (!owns) continue;
      const nodes = (s.nodes as unknown[][]).map(pairs);
      const master = nodes.find((n) => n.role === 'master' && n.health === 'online');
      if (!master) continue;
      const replicas = nodes.filter((n) => n.role === 'replica').map((n) => Number(n.port));
      return { slot, master: Number(master.port), replicas };
    }
    throw new Error(`no online master serves slot ${slot} of ${channel}`);
  }

  private async mastersWithReplicas(): Promise<{ port: number; replicas: number }[]> {
    const nodes = String(await this.adminOn(this.nodes[0]!.port).call('CLUSTER', 'NODES')).trim().split('\n');
    const flags = (l: string) => l.split(' ')[2]!.split(',');
    const masters = nodes.filter((l) => flags(l).includes('master') && !flags(l).some((f) => f.startsWith('fail')));
    return masters.map((l) => {
      const id = l.split(' ')[0]!;
      return { port: Number(/:(\d+)@/.exec(l)![1]), replicas: nodes.filter((r) => r.split(' ')[3] === id).length };
    });
  }

  node(port: number): ClusterNode {
    const n = this.nodes.find((x) => x.port === port);
    if (!n) throw new Error(`no cluster node on port ${port}`);
    return n;
  }

  /** Kills a node at once (SIGKILL), as a crashed machine. */
  async kill(port: number): Promise<void> {
    await this.node(port).process.stop('SIGKILL');
  }

  async cleanup(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    await Promise.allSettled(this.nodes.map((n) => n.process.stop('SIGKILL')));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A RESP map as a flat [k, v, k, v] array (CLUSTER SHARDS under RESP2) to an object. */
function pairs(flat: unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[String(flat[i])] = flat[i + 1];
  return o;
}
