// The baseline the chat is compared with: plain Redis pub/sub of the same shape as the chat load
// (N publishers, M subscribers that each get every message), measured on this process's clock
// like the chat's delivery. Against one Redis: PUBLISH -> SUBSCRIBE; against a Redis Cluster
// (`nodes`): SPUBLISH -> SSUBSCRIBE, Redis 7's sharded pub/sub, as the chat's sharded adapter uses.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
// labctl's own percentiles (dist/: `npm run build` first), as verify reports them
import { summarize } from '../../dist/verify/stats.js';

/**
 * target: { host, port, password } for one Redis, or { nodes: [{ host, port }], password } for a
 * cluster. rate: messages per second, all publishers together.
 */
export async function measureRawPubSub({ target, publishers, subscribers, rate, durationMs, settleMs = 3000 }) {
  const channel = `labctl-bench-${process.pid}-${Date.now()}`;
  const sharded = Array.isArray(target.nodes);
  const make = () => {
    const c = sharded
      ? new Cluster(target.nodes, { lazyConnect: true, shardedSubscribers: true, redisOptions: { password: target.password, maxRetriesPerRequest: 1 } })
      : new Redis({ host: target.host, port: target.port, password: target.password, lazyConnect: true, maxRetriesPerRequest: 1 });
    c.on('error', () => {});
    return c;
  };
  const pubs = Array.from({ length: publishers }, make);
  const subs = Array.from({ length: subscribers }, make);
  const samples = [];
  let received = 0;
  const onMessage = (_ch, msg) => {
    received++;
    samples.push(performance.now() - Number(msg.slice(0, msg.indexOf(' '))));
  };
  try {
    await Promise.all([...pubs, ...subs].map((c) => c.connect()));
    for (const s of subs) {
      if (sharded) {
        s.on('smessage', onMessage);
        await s.ssubscribe(channel);
      } else {
        s.on('message', onMessage);
        await s.subscribe(channel);
      }
    }
    const perPub = rate / publishers;
    const count = Math.max(1, Math.round((perPub * durationMs) / 1000));
    const interval = 1000 / perPub;
    const start = performance.now();
    await Promise.all(
      pubs.map(async (p, i) => {
        const offset = (interval * i) / pubs.length;
        for (let seq = 0; seq < count; seq++) {
          const wait = start + offset + seq * interval - performance.now();
          if (wait > 1) await sleep(wait);
          const msg = `${performance.now()} ${i} ${seq}`;
          (sharded ? p.spublish(channel, msg) : p.publish(channel, msg)).catch(() => {});
        }
      }),
    );
    const sendMs = performance.now() - start;
    const sent = count * pubs.length;
    const expected = sent * subs.length;
    const deadline = performance.now() + settleMs;
    while (received < expected && performance.now() < deadline) await sleep(20);
    return { rate, achievedRate: Math.round((sent / sendMs) * 1000), sent, expected, received, lost: expected - received, latencyMs: summarize(samples) };
  } finally {
    for (const c of [...pubs, ...subs]) c.disconnect();
  }
}
