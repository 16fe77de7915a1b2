import path from 'node:path';
import type { LabContext, Provider } from '../providers/provider.js';
import { LB_PORT, lbMachine, redisMachine, webMachines, type MachineSpec } from '../spec/types.js';
import { clusterHealthChecks } from './cluster-health.js';
import { checkThroughLb } from './lb.js';
import { redisPassword } from '../roles/redis/index.js';
import { redisPaths } from '../roles/redis/paths.js';
import { openTap, serversChannel, subscribedServers, type BackplaneMessage, type Tap } from './backplane.js';
import { ChatClient } from './chat-client.js';
import type { BrowserReport } from './browser.js';
import { measureDelivery, type DeliveryReport } from './delivery.js';
import { getHealth, httpGet, httpsProbe } from './http.js';
import { APP_DIST } from '../roles/web-linux/bundle.js';
import { sha256File } from '../util/hash.js';
import { pingRedis, withRedis } from './redis-probe.js';
import { throwIfInterrupted } from '../util/cancel.js';
import { chatConnectionsCheck, chatUserLimitedCheck } from './acl.js';
import type { FaultReport } from './fault-analysis.js';
import { runFaultDelivery, type FaultRequest } from './fault-run.js';
import { clusterMembers, type ChannelShard } from './channel-shard.js';
import { clusterChatUserCheck, clusterConnectionsCheck, shardCheck, shardSubscribers } from './cluster-backplane.js';
import { ShardTap } from './shard-tap.js';
import { sleep } from '../util/time.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  reason: string;
  node?: string;
}

export interface VerifyOptions {
  clients: number;
  messages: number;
  rate?: number;
  /** inject this fault while measuring delivery (verify --fault) */
  fault?: FaultRequest;
  onProgress?: (text: string) => void;
}

export interface VerifyReport {
  ok: boolean;
  lab: string;
  provider: string;
  checks: CheckResult[];
  delivery?: DeliveryReport;
  /** verify --fault: per node lost, duplicated, out of order, outage and recovery */
  fault?: FaultReport;
  backplane?: { broadcasts: number; origins: string[]; serversSubscribed: number; sample?: BackplaneMessage };
  /** a Redis Cluster: the shard that carries the chat channel (after the fault, with --fault) */
  shard?: ChannelShard;
  browser?: BrowserReport;
  durationMs: number;
}

/** Everything `labctl verify` proves, each check with a reason. */
export async function verifyLab(lab: LabContext, provider: Provider, opts: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const spec = lab.spec;
  const checks: CheckResult[] = [];
  const add = (c: CheckResult) => {
    // interrupted (Ctrl-C during up): stop between two checks
    throwIfInterrupted();
    checks.push(c);
    opts.onProgress?.(`${c.ok ? 'pass' : 'FAIL'} ${c.name}`);
  };
  const redis = redisMachine(spec);
  const redisAccess = provider.access(lab, redis);
  await redisAccess.guardRoute?.();
  const password = lab.store.secrets.has('redis_password') ? redisPassword(lab) : undefined;
  const target = { host: redis.ip, port: spec.redis.port, password };

  // 1. the password is required, and works
  const without = await pingRedis({ host: redis.ip, port: spec.redis.port }, 2000);
  const withPass = password ? await pingRedis(target, 2000) : 'no password recorded: run labctl deploy';
  add({
    name: 'Redis requires its password',
    node: redis.name,
    ok: /NOAUTH/.test(without) && withPass === 'PONG',
    reason: /NOAUTH/.test(without)
      ? withPass === 'PONG'
        ? 'refused without the password (NOAUTH), PONG with it'
        : `refused without the password, but with it: ${withPass}`
      : `without the password Redis answered: ${without}`,
  });

  const cluster = spec.redis.topology === 'cluster';
  const members = clusterMembers(spec);
  // 1b. the chat servers' own Redis user may do their work and nothing else (every node of a cluster)
  if (password && cluster) add(await clusterChatUserCheck(members, spec.redis.channel, spec.redis.backplane, password));
  else if (password) add(await withRedis(target, (c) => chatUserLimitedCheck(c, spec.redis.channel, redis.name, spec.redis.backplane)).catch((err: Error) => ({ name: 'Redis user chat is limited to the backplane', node: redis.name, ok: false, reason: err.message })));

  // 2. it is the build from source
  try {
    const info = await withRedis(target, (c) => c.info('server'));
    const field = (k: string) => new RegExp(`^${k}:(.*)$`, 'm').exec(info)?.[1]?.trim();
    const version = field('redis_version');
    const exe = field('executable');
    const prefix = redisPaths(redisAccess.root, spec.redis.version).prefix;
    const ok = version === spec.redis.version && Boolean(exe?.startsWith(`${prefix}/`));
    add({
      name: 'Redis is the build from source',
      node: redis.name,
      ok,
      reason: ok ? `version ${version}, ${exe}` : `version ${version} (want ${spec.redis.version}), executable ${exe} (want under ${prefix})`,
    });
  } catch (err) {
    add({ name: 'Redis is the build from source', node: redis.name, ok: false, reason: `INFO server failed: ${(err as Error).message}` });
  }

  // 2b. a Redis Cluster: every node with its password and the build, cluster_state, the slots, the replicas
  if (spec.redis.topology === 'cluster') {
    const prefixOf = (m: MachineSpec) => redisPaths(provider.access(lab, m).root, spec.redis.version).prefix;
    for (const c of await clusterHealthChecks(spec, password, prefixOf)) add(c);
  }
  // 2c. which shard carries the chat channel
  let shard: ChannelShard | undefined;
  if (cluster && password) {
    const r = await shardCheck(members, spec.redis.channel, password, spec.redis.replicasPerMaster > 0);
    shard = r.shard;
    add(r.check);
  }

  // 3. each web node serves the page, runs the app labctl built, upgrades to WebSocket, and
  // (where it applies) its management endpoint for Web Deploy answers and wants credentials
  const webs = webMachines(spec);
  const built = await localBuild();
  for (const m of webs) {
    await (provider.guardRoute ? provider.guardRoute(lab, m) : provider.access(lab, m).guardRoute?.());
    const url = `http://${m.ip}:${spec.app.port}`;
    try {
      const page = await httpGet(`${url}/`, 3000);
      const ok = page.status === 200 && page.body.includes('id="messages"');
      add({ name: `${m.name} serves the chat page`, node: m.name, ok, reason: ok ? `GET ${url}/ → 200` : `GET ${url}/ → ${page.status}${page.status === 200 ? ' but not the chat page' : ''}` });
    } catch (err) {
      add({ name: `${m.name} serves the chat page`, node: m.name, ok: false, reason: `GET ${url}/ failed: ${(err as Error).message}` });
    }
    add(await buildCheck(m.name, m.ip, spec.app.port, built));
    const management = provider.webManagementUrl?.(lab, m);
    if (management) add(await managementCheck(m.name, management));
    const client = new ChatClient(url, m.name);
    try {
      await client.connect(4000);
      add({ name: `${m.name} upgrades to WebSocket`, node: m.name, ok: client.transport() === 'websocket', reason: `socket.io transport: ${client.transport()}` });
    } catch (err) {
      add({ name: `${m.name} upgrades to WebSocket`, node: m.name, ok: false, reason: (err as Error).message });
    } finally {
      client.close();
    }
  }

  // 4'. delivery while a fault is injected: the fault's own report, then every server back on Redis
  if (opts.fault) return faultChecks(opts.fault);

  // 4. delivery across nodes, watched on the backplane at the same time
  let tap: Tap | undefined;
  const seen: BackplaneMessage[] = [];
  if (password) {
    tap = cluster ? new ShardTap(members.map((m) => ({ host: m.host, port: m.port })), password, spec.redis.channel) : openTap(target, spec.redis.channel, spec.redis.backplane);
    tap.onMessage((m) => {
      if (m.kind === 'broadcast' && m.chats) seen.push(m);
    });
    try {
      await tap.start();
    } catch {
      tap = undefined;
    }
  }
  const delivery = await measureDelivery({
    nodes: webs.map((m) => ({ name: m.name, url: `http://${m.ip}:${spec.app.port}` })),
    clientsPerNode: opts.clients,
    messagesPerClient: opts.messages,
    ratePerClient: opts.rate ?? Math.max(1, Math.floor(spec.app.rateLimit.perSecond * 0.8)),
    onProgress: opts.onProgress,
  });
  add({ name: 'messages reach every client on every node', ok: delivery.ok, reason: delivery.reason });

  // 4b. and they are connected to Redis as that user
  if (password && cluster) add(shard ? await clusterConnectionsCheck(members, password, webs.map((w) => w.name), shard) : { name: 'the chat servers connect as Redis user chat (every cluster node)', ok: false, reason: 'the chat channel\'s shard is unknown' });
  else if (password) add(await withRedis(target, (c) => chatConnectionsCheck(c, webs.map((w) => w.name), redis.name, spec.redis.backplane)).catch((err: Error) => ({ name: 'the chat servers connect as Redis user chat', node: redis.name, ok: false, reason: err.message })));

  // 5. the traffic is on the Redis channel, and every web server is subscribed
  await tap?.stop();
  let backplane: VerifyReport['backplane'];
  try {
    const servers = cluster
      ? shard && password
        ? await shardSubscribers(password, shard)
        : -1
      : await withRedis(target, (c) => subscribedServers(c, spec.redis.channel, spec.redis.backplane));
    const subscribedOn = cluster ? `${spec.redis.channel}#/# on ${shard?.master.name ?? '?'} (PUBSUB SHARDNUMSUB)` : serversChannel(spec.redis.channel, spec.redis.backplane);
    const ours = seen.flatMap((m) => (m.chats ?? []).filter((c) => typeof c?.text === 'string' && c.text.startsWith('verify ')));
    const origins = [...new Set(ours.map((c) => c.origin ?? '?'))].sort();
    backplane = { broadcasts: ours.length, origins, serversSubscribed: servers, sample: seen[0] };
    const accepted = delivery.sent - delivery.refused;
    const problems: string[] = [];
    if (!tap) problems.push('could not subscribe to the backplane');
    if (ours.length !== accepted) problems.push(`${ours.length} messages seen on ${tap?.describe ?? spec.redis.channel}, ${accepted} expected`);
    if (servers !== webs.length) problems.push(`${servers} servers subscribed to ${subscribedOn}, expected ${webs.length} (${webs.map((w) => w.name).join(', ')})`);
    add({
      name: 'backplane carries the messages',
      ok: problems.length === 0,
      reason:
        problems.length === 0
          ? `${ours.length} messages on ${spec.redis.backplane === 'streams' || cluster ? tap!.describe : `${spec.redis.channel}#/#`}${cluster && shard ? ` via ${shard.master.name}` : ''} from ${origins.join(', ')}; ${servers} servers subscribed`
          : problems.join('; '),
    });
  } catch (err) {
    add({ name: 'backplane carries the messages', ok: false, reason: (err as Error).message });
  }

  // 6. the load balancer: browsers opening its address land on every web node and chat across them
  const lb = lbMachine(spec);
  if (lb) {
    await (provider.guardRoute ? provider.guardRoute(lab, lb) : provider.access(lab, lb).guardRoute?.());
    const url = `http://${lb.ip}:${LB_PORT}`;
    // round-robin: two rounds over the web nodes put two clients on each
    const r = await checkThroughLb(url, webs.map((w) => w.name), Math.max(4, 2 * webs.length));
    const spread = Object.entries(r.spread).map(([n, c]) => `${n} ${c}`).join(', ');
    const broken = r.failures.length > 0 ? `; ${r.failures.length} failed: ${r.failures.slice(0, 3).join('; ')}` : '';
    add({
      name: 'clients through the load balancer reach every web node',
      node: lb.name,
      ok: r.missed.length === 0 && r.failures.length === 0,
      reason: `${r.clients} clients via ${url}: ${spread}${r.missed.length ? `; none on ${r.missed.join(', ')}` : ''}${broken}`,
    });
    add({
      name: 'clients through the load balancer see each other\'s messages',
      node: lb.name,
      ok: r.clients > 0 && r.received === r.expected && r.failures.length === 0,
      reason: `${r.received}/${r.expected} messages received, ${r.crossNode} of them from another node than the receiver's${broken}`,
    });
  }
  return {
    ok: checks.every((c) => c.ok),
    lab: spec.name,
    provider: provider.name,
    checks,
    delivery,
    backplane,
    ...(shard ? { shard } : {}),
    durationMs: Date.now() - started,
  };

  async function faultChecks(req: FaultRequest): Promise<VerifyReport> {
    const { delivery, fault } = await runFaultDelivery(lab, provider, req, {
      nodes: webs.map((m) => ({ name: m.name, url: `http://${m.ip}:${spec.app.port}` })),
      clientsPerNode: opts.clients,
      messagesPerClient: opts.messages,
      ratePerClient: opts.rate ?? Math.max(1, Math.floor(spec.app.rateLimit.perSecond * 0.8)),
      onProgress: opts.onProgress,
    });
    add({ name: `messages under ${req.kind} (${fault.fault.target}): ${spec.redis.backplane} keeps its promise`, ok: fault.ok, reason: fault.reason });
    // after the fault every server is back on Redis as chat, and subscribed (bounded wait: a
    // server may still be reconnecting when the last message arrived)
    if (password && cluster) return clusterAfterFault(password, fault);
    if (password) {
      const names = webs.map((w) => w.name);
      let conn = await withRedis(target, (c) => chatConnectionsCheck(c, names, redis.name, spec.redis.backplane)).catch((err: Error) => ({ name: 'the chat servers connect as Redis user chat', node: redis.name, ok: false, reason: err.message }));
      for (let i = 0; i < 50 && !conn.ok; i++) {
        await sleep(200);
        conn = await withRedis(target, (c) => chatConnectionsCheck(c, names, redis.name, spec.redis.backplane)).catch((err: Error) => ({ name: conn.name, node: redis.name, ok: false, reason: err.message }));
      }
      add({ ...conn, name: `after the fault: ${conn.name}` });
      const servers = await withRedis(target, (c) => subscribedServers(c, spec.redis.channel, spec.redis.backplane)).catch(() => -1);
      add({
        name: 'after the fault: every server subscribed to the backplane',
        ok: servers === webs.length,
        reason: `${servers} servers subscribed to ${serversChannel(spec.redis.channel, spec.redis.backplane)}, expected ${webs.length}`,
      });
    }
    return { ok: checks.every((c) => c.ok), lab: spec.name, provider: provider.name, checks, delivery, fault, durationMs: Date.now() - started };

    /** a cluster after the fault: the channel's shard now (a promoted replica after redis-failover), the servers on it as chat */
    async function clusterAfterFault(pw: string, report: FaultReport): Promise<VerifyReport> {
      const names = webs.map((w) => w.name);
      const now = await shardCheck(members, spec.redis.channel, pw, false);
      add({ ...now.check, name: `after the fault: ${now.check.name}` });
      if (now.shard) {
        const s = now.shard;
        let conn = await clusterConnectionsCheck(members, pw, names, s);
        for (let i = 0; i < 50 && !conn.ok; i++) {
          await sleep(200);
          conn = await clusterConnectionsCheck(members, pw, names, s);
        }
        add({ ...conn, name: `after the fault: ${conn.name}` });
        const servers = await shardSubscribers(pw, s).catch(() => -1);
        add({
          name: 'after the fault: every server subscribed to the backplane',
          node: s.master.name,
          ok: servers === webs.length,
          reason: `${servers} servers subscribed to ${s.channel} on ${s.master.name} (PUBSUB SHARDNUMSUB), expected ${webs.length}`,
        });
      }
      return { ok: checks.every((c) => c.ok), lab: spec.name, provider: provider.name, checks, delivery, fault: report, ...(now.shard ? { shard: now.shard } : {}), durationMs: Date.now() - started };
    }
  }
}

/** The build labctl deploys: the sha256 of dist/app/server.cjs here, or why there is none. */
async function localBuild(): Promise<{ sha256?: string; problem?: string }> {
  const file = path.join(APP_DIST, 'server.cjs');
  try {
    return { sha256: await sha256File(file) };
  } catch (err) {
    return { problem: `no local build to compare with (${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): run npm run build` };
  }
}

/** The app a node runs is the one labctl built: /healthz's build against the local bundle's sha256. */
async function buildCheck(node: string, ip: string, port: number, built: { sha256?: string; problem?: string }): Promise<CheckResult> {
  const name = `${node} runs the chat app labctl built`;
  if (!built.sha256) return { name, node, ok: false, reason: built.problem! };
  try {
    const h = await getHealth(ip, port, 3000);
    if (!h.build) return { name, node, ok: false, reason: `/healthz reports no build: the app on ${node} predates build ids (run labctl deploy ${node})` };
    const ok = h.build === built.sha256;
    return {
      name,
      node,
      ok,
      reason: ok
        ? `build ${h.build.slice(0, 12)} = sha256 of dist/app/server.cjs`
        : `${node} runs build ${h.build.slice(0, 12)}, labctl built ${built.sha256.slice(0, 12)} (dist/app/server.cjs): run labctl deploy ${node}`,
    };
  } catch (err) {
    return { name, node, ok: false, reason: `GET /healthz failed: ${(err as Error).message}` };
  }
}

/**
 * The Web Management Service on 8172, which Web Deploy publishes through: it answers over
 * HTTPS (a self-signed certificate by default: iis-docs remote-administration-for-iis-manager.md,
 * "WMSVC is bound to all unassigned IP addresses on port 8172 using a self-signed certificate")
 * and refuses a request without credentials with 401 (iis-docs configure-the-web-deployment-handler.md,
 * "User receives 401 unauthorized error ... This error comes from WMSVC").
 */
async function managementCheck(node: string, url: string): Promise<CheckResult> {
  const name = `${node} Web Management Service answers on 8172 and wants credentials`;
  try {
    const r = await httpsProbe(url, 3000);
    const cert = r.certificate ? `, certificate ${r.certificate.subject}${r.certificate.selfSigned ? ' (self-signed)' : ''}` : '';
    const ok = r.status === 401;
    return { name, node, ok, reason: ok ? `GET ${url} without credentials → 401${cert}` : `GET ${url} without credentials → ${r.status} (want 401)${cert}` };
  } catch (err) {
    return { name, node, ok: false, reason: `GET ${url} failed: ${(err as Error).message} (is WMSvc running, remote connections on, TCP 8172 open?)` };
  }
}
