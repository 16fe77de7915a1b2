import { redisMachines, type LabSpec, type MachineSpec } from '../spec/types.js';
import { CLUSTER_SLOTS, readNodeView, type ClusterNodeLine, type NodeView } from './cluster-probe.js';
import { pingRedis, withRedis } from './redis-probe.js';

export interface CheckLike {
  name: string;
  ok: boolean;
  reason: string;
  node?: string;
}

/** What each redis machine answered (its view), or why it did not. */
export interface ClusterSurvey {
  views: { machine: MachineSpec; view?: NodeView; error?: string }[];
}

export async function surveyCluster(spec: LabSpec, password: string, timeoutMs = 2000): Promise<ClusterSurvey> {
  const views = await Promise.all(
    redisMachines(spec).map(async (machine) => {
      try {
        return { machine, view: await readNodeView({ host: machine.ip, port: spec.redis.port, password }, timeoutMs) };
      } catch (err) {
        return { machine, error: (err as Error).message };
      }
    }),
  );
  return { views };
}

/** The cluster as labctl made it: every node ok and knowing all the others, every slot served. */
export function clusterFormed(spec: LabSpec, s: ClusterSurvey): boolean {
  const n = redisMachines(spec).length;
  // masters holding slots: after a failover the promoted replica counts, its failed master not
  const masters = (v: NodeView) => v.nodes.filter((x) => x.flags.includes('master') && x.slots > 0).length;
  return s.views.every(
    (v) =>
      v.view &&
      v.view.info.cluster_state === 'ok' &&
      Number(v.view.info.cluster_known_nodes) === n &&
      Number(v.view.info.cluster_slots_assigned) === CLUSTER_SLOTS &&
      masters(v.view) === spec.redis.masters,
  );
}

/** ip:port -> machine name, for reports. */
function namer(spec: LabSpec): (addr: string) => string {
  const byAddr = new Map(redisMachines(spec).map((m) => [`${m.ip}:${spec.redis.port}`, m.name]));
  return (addr) => byAddr.get(addr) ?? addr;
}

const isMaster = (n: ClusterNodeLine) => n.flags.includes('master') && !n.flags.includes('fail');

/** The masters and their replicas as one node sees them: "redis1 (5461 slots) <- redis4". */
export function describeShards(spec: LabSpec, view: NodeView): string {
  const name = namer(spec);
  return view.nodes
    .filter(isMaster)
    .sort((a, b) => name(a.addr).localeCompare(name(b.addr)))
    .map((m) => {
      const replicas = view.nodes.filter((r) => r.masterId === m.id).map((r) => `${name(r.addr)}${r.connected && !r.flags.includes('fail') ? '' : ' (down)'}`);
      return `${name(m.addr)} (${m.slots} slots)${replicas.length ? ` <- ${replicas.join(', ')}` : ''}`;
    })
    .join(', ');
}

/**
 * verify's cluster health: every node wants the password and answers with it, every node says
 * cluster_state:ok and knows all the others, the masters serve all 16384 slots, and with
 * replicasPerMaster 1 each master has a connected replica.
 */
export async function clusterHealthChecks(spec: LabSpec, password: string | undefined, prefixOf: (m: MachineSpec) => string): Promise<CheckLike[]> {
  const nodes = redisMachines(spec);
  const checks: CheckLike[] = [];
  const port = spec.redis.port;

  const auth = await Promise.all(
    nodes.map(async (m) => ({ m, without: await pingRedis({ host: m.ip, port }, 2000), with: password ? await pingRedis({ host: m.ip, port, password }, 2000) : 'no password recorded' })),
  );
  const authBad = auth.filter((a) => !/NOAUTH/.test(a.without) || a.with !== 'PONG');
  checks.push({
    name: `Redis Cluster: all ${nodes.length} nodes require the password and answer with it`,
    ok: authBad.length === 0,
    reason: authBad.length === 0 ? `${nodes.map((n) => n.name).join(', ')}: NOAUTH without it, PONG with it` : authBad.map((a) => `${a.m.name}: without ${a.without}, with ${a.with}`).join('; '),
  });
  if (!password) return checks;

  const builds = await Promise.all(
    nodes.map(async (m) => {
      try {
        const info = await withRedis({ host: m.ip, port, password }, (c) => c.info('server'));
        const field = (k: string) => new RegExp(`^${k}:(.*)$`, 'm').exec(info)?.[1]?.trim();
        const [version, exe] = [field('redis_version'), field('executable')];
        const ok = version === spec.redis.version && Boolean(exe?.startsWith(`${prefixOf(m)}/`));
        return { m, ok, text: `${m.name}: ${version}, ${exe}` };
      } catch (err) {
        return { m, ok: false, text: `${m.name}: INFO server failed: ${(err as Error).message}` };
      }
    }),
  );
  checks.push({
    name: `Redis Cluster: every node runs the build of Redis ${spec.redis.version}`,
    ok: builds.every((b) => b.ok),
    reason: builds.every((b) => b.ok) ? builds.map((b) => b.text).join('; ') : builds.filter((b) => !b.ok).map((b) => `${b.text} (want ${spec.redis.version} under ${prefixOf(b.m)})`).join('; '),
  });

  const survey = await surveyCluster(spec, password);
  const stateBad = survey.views.filter((v) => !v.view || v.view.info.cluster_state !== 'ok' || Number(v.view.info.cluster_known_nodes) !== nodes.length);
  checks.push({
    name: 'Redis Cluster: cluster_state ok on every node',
    ok: stateBad.length === 0,
    reason:
      stateBad.length === 0
        ? `cluster_state:ok and ${nodes.length} known nodes on each of ${nodes.map((n) => n.name).join(', ')}`
        : stateBad.map((v) => (v.view ? `${v.machine.name}: cluster_state ${v.view.info.cluster_state}, ${v.view.info.cluster_known_nodes} known nodes` : `${v.machine.name}: ${v.error}`)).join('; '),
  });

  const seen = survey.views.find((v) => v.view);
  if (!seen?.view) {
    checks.push({ name: `Redis Cluster: all ${CLUSTER_SLOTS} slots covered`, ok: false, reason: 'no node answered CLUSTER NODES' });
    return checks;
  }
  const view = seen.view;
  const masters = view.nodes.filter(isMaster);
  const served = masters.reduce((n, m) => n + m.slots, 0);
  const slotsOk = Number(view.info.cluster_slots_ok);
  const coverOk = served === CLUSTER_SLOTS && slotsOk === CLUSTER_SLOTS && masters.length === spec.redis.masters;
  checks.push({
    name: `Redis Cluster: all ${CLUSTER_SLOTS} slots covered`,
    node: seen.machine.name,
    ok: coverOk,
    reason: `${masters.length} masters (want ${spec.redis.masters}) serve ${served} slots, ${slotsOk} ok: ${describeShards(spec, view)} (as ${seen.machine.name} sees it)`,
  });

  if (spec.redis.replicasPerMaster > 0) {
    const name = namer(spec);
    const lonely = masters.filter((m) => !view.nodes.some((r) => r.masterId === m.id && r.connected && !r.flags.includes('fail')));
    checks.push({
      name: 'Redis Cluster: every master has its replica',
      node: seen.machine.name,
      ok: lonely.length === 0,
      reason: lonely.length === 0 ? describeShards(spec, view) : `no connected replica for ${lonely.map((m) => name(m.addr)).join(', ')}`,
    });
  }
  return checks;
}

/** For `labctl status`: one line on the cluster, and whether it is healthy. */
export interface ClusterStatus {
  ok: boolean;
  /** "ok: redis1 (5461 slots) <- redis4, ..." or what is wrong */
  summary: string;
  nodes: { name: string; role?: 'master' | 'replica'; of?: string; answers: boolean; state?: string; error?: string }[];
}

export async function clusterStatus(spec: LabSpec, password: string): Promise<ClusterStatus> {
  const survey = await surveyCluster(spec, password, 1000);
  const name = namer(spec);
  const seen = survey.views.find((v) => v.view)?.view;
  const nodes = survey.views.map((v) => {
    const self = seen?.nodes.find((n) => n.addr === `${v.machine.ip}:${spec.redis.port}`);
    const master = self?.masterId ? seen?.nodes.find((n) => n.id === self.masterId) : undefined;
    return {
      name: v.machine.name,
      role: self ? (self.flags.includes('master') ? ('master' as const) : ('replica' as const)) : undefined,
      of: master ? name(master.addr) : undefined,
      answers: Boolean(v.view),
      state: v.view?.info.cluster_state,
      error: v.error,
    };
  });
  const ok = clusterFormed(spec, survey);
  const problems = nodes.filter((n) => !n.answers || n.state !== 'ok').map((n) => `${n.name}: ${n.answers ? `cluster_state ${n.state}` : n.error}`);
  const shards = seen ? describeShards(spec, seen) : 'no node answers';
  return { ok, summary: ok ? `ok: ${shards}` : problems.length ? `${problems.join('; ')}${seen ? `; ${shards}` : ''}` : `not formed yet: ${shards}`, nodes };
}
