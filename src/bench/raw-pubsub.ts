import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { RedisTarget } from '../verify/redis-probe.js';
import { summarize, type LatencySummary } from '../verify/stats.js';
import { sleep } from '../util/time.js';

export interface RawPubSubOptions {
  target: RedisTarget;
  publishers: number;
  subscribers: number;
  /** messages per second, all publishers together */
  rate: number;
  durationMs: number;
  settleMs?: number;
}

export interface RawPubSubReport {
  rate: number;
  achievedRate: number;
  sent: number;
  expected: number;
  received: number;
  lost: number;
  latencyMs: LatencySummary;
}

/**
 * The baseline the chat is compared with: plain Redis PUBLISH → SUBSCRIBE with the same
 * shape as the chat load (N publishers, M subscribers that each get every message),
 * measured on this process's clock like the chat's delivery.
 */
export async function measureRawPubSub(opts: RawPubSubOptions): Promise<RawPubSubReport> {
  const channel = `labctl-bench-${process.pid}-${Date.now()}`;
  const make = () => {
    const c = new Redis({ host: opts.target.host, port: opts.target.port, password: opts.target.password, lazyConnect: true, maxRetriesPerRequest: 1 });
    c.on('error', () => {});
    return c;
  };
  const pubs = Array.from({ length: opts.publishers }, make);
  const subs = Array.from({ length: opts.subscribers }, make);
  const samples: number[] = [];
  let received = 0;
  try {
    await Promise.all([...pubs, ...subs].map((c) => c.connect()));
    for (const s of subs) {
      s.on('message', (_ch: string, msg: string) => {
        received++;
        samples.push(performance.now() - Number(msg.slice(0, msg.indexOf(' '))));
      });
      await s.subscribe(channel);
    }
    const perPub = opts.rate / opts.publishers;
    const count = Math.max(1, Math.round((perPub * opts.durationMs) / 1000));
    const interval = 1000 / perPub;
    const start = performance.now();
    await Promise.all(
      pubs.map(async (p, i) => {
        const offset = (interval * i) / pubs.length;
        for (let seq = 0; seq < count; seq++) {
          const wait = start + offset + seq * interval - performance.now();
          if (wait > 1) await sleep(wait);
          void p.publish(channel, `${performance.now()} ${i} ${seq}`);
        }
      }),
    );
    const sendMs = performance.now() - start;
    const sent = count * pubs.length;
    const expected = sent * subs.length;
    const deadline = performance.now() + (opts.settleMs ?? 3000);
    while (received < expected && performance.now() < deadline) await sleep(20);
    return { rate: opts.rate, achievedRate: Math.round((sent / sendMs) * 1000), sent, expected, received, lost: expected - received, latencyMs: summarize(samples) };
  } finally {
    for (const c of [...pubs, ...subs]) c.disconnect();
  }
}
