import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sleep } from '../util/time.js';
import { ChatClient } from './chat-client.js';
import { summarize, type LatencySummary } from './stats.js';

export interface DeliveryOptions {
  nodes: { name: string; url: string }[];
  clientsPerNode: number;
  messagesPerClient: number;
  /** messages per second each client sends (keep under the app's per-connection limit) */
  ratePerClient: number;
  /** how long to wait for stragglers after the last send */
  settleMs?: number;
  onProgress?: (text: string) => void;
}

export interface NodeDelivery {
  node: string;
  clients: number;
  expected: number;
  received: number;
  lost: number;
  duplicated: number;
}

export interface DeliveryReport {
  ok: boolean;
  reason: string;
  clients: number;
  sent: number;
  refused: number;
  /** every client must receive every message, its own included */
  expected: number;
  received: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  latencyMs: LatencySummary;
  crossNodeLatencyMs: LatencySummary;
  sendRatePerSec: number;
  durationMs: number;
  perNode: NodeDelivery[];
  failures: string[];
}

interface Participant {
  key: string;
  /** position among all participants: the sender number in message texts */
  index: number;
  node: string;
  client: ChatClient;
  /** receipts per message (sender * M + seq): a second one is a duplicate */
  seen: Uint8Array;
  /** the highest seq received from each sender so far */
  lastSeqFrom: Int32Array;
  received: number;
  duplicated: number;
  outOfOrder: number;
}

/**
 * The seed's "each receives the other's messages", measured: C clients on every node
 * each send M messages; every client must receive every message once, in each sender's
 * order. Latency is taken on this process's own clock, from send to receipt.
 */
export async function measureDelivery(opts: DeliveryOptions): Promise<DeliveryReport> {
  const runId = randomBytes(4).toString('hex');
  const failures: string[] = [];
  const participants: Participant[] = [];
  const latencies: number[] = [];
  const crossLatencies: number[] = [];
  // Indexed by sender number and seq: at high rates every receipt is handled without
  // building a string or growing a map (the measuring process must not be what is slow).
  const total = opts.nodes.length * opts.clientsPerNode;
  const M = opts.messagesPerClient;
  const sentAt = new Float64Array(total * M);
  const senderNode: string[] = new Array(total);
  const joined = new Uint8Array(total);
  const prefix = `verify ${runId} `;
  const started = performance.now();

  try {
    opts.onProgress?.(`connecting ${opts.nodes.length * opts.clientsPerNode} clients`);
    await Promise.all(
      opts.nodes.flatMap((node) =>
        Array.from({ length: opts.clientsPerNode }, async (_, i) => {
          const key = `${node.name}.${i}`;
          const index = opts.nodes.indexOf(node) * opts.clientsPerNode + i;
          const client = new ChatClient(node.url, key);
          const p: Participant = {
            key,
            index,
            node: node.name,
            client,
            seen: new Uint8Array(total * M),
            lastSeqFrom: new Int32Array(total).fill(-1),
            received: 0,
            duplicated: 0,
            outOfOrder: 0,
          };
          participants.push(p);
          senderNode[index] = node.name;
          try {
            await client.connect();
            const ack = await client.join(`verify-${key}`);
            if (!ack.ok) throw new Error(`join refused: ${ack.error}`);
          } catch (err) {
            failures.push(`${node.name}: ${(err as Error).message}`);
            return;
          }
          joined[index] = 1;
          client.onChat((m) => {
            const now = performance.now();
            // text: "verify <run> <sender number> <seq>"
            if (typeof m.text !== 'string' || !m.text.startsWith(prefix)) return;
            const space = m.text.indexOf(' ', prefix.length);
            const from = Number(m.text.slice(prefix.length, space));
            const seq = Number(m.text.slice(space + 1));
            if (!(from >= 0 && from < total && seq >= 0 && seq < M)) return;
            const id = from * M + seq;
            if (p.seen[id]) {
              p.duplicated++;
              return;
            }
            p.seen[id] = 1;
            p.received++;
            if (seq < p.lastSeqFrom[from]!) p.outOfOrder++;
            else p.lastSeqFrom[from] = seq;
            const t0 = sentAt[id]!;
            if (t0 > 0) {
              latencies.push(now - t0);
              if (senderNode[from] !== p.node) crossLatencies.push(now - t0);
            }
          });
        }),
      ),
    );
    const ready = participants.filter((p) => joined[p.index]);
    if (failures.length > 0) return finish(false, `clients could not connect: ${failures.join('; ')}`);

    opts.onProgress?.(`sending ${ready.length * opts.messagesPerClient} messages`);
    let refused = 0;
    const refusals: string[] = [];
    const interval = 1000 / opts.ratePerClient;
    const sendStart = performance.now();
    await Promise.all(
      ready.map(async (p, index) => {
        // spread the senders over one interval so they do not all fire at once
        await sleep((interval * index) / ready.length);
        const acks: Promise<void>[] = [];
        for (let seq = 0; seq < opts.messagesPerClient; seq++) {
          const due = sendStart + (interval * index) / ready.length + seq * interval;
          const wait = due - performance.now();
          if (wait > 1) await sleep(wait);
          sentAt[p.index * M + seq] = performance.now();
          acks.push(
            p.client.send(`${prefix}${p.index} ${seq}`).then(
              (ack) => {
                if (!ack.ok) {
                  refused++;
                  if (refusals.length < 3) refusals.push(`${p.node}: ${ack.error}`);
                }
              },
              (err: Error) => {
                refused++;
                if (refusals.length < 3) refusals.push(`${p.node}: ${err.message}`);
              },
            ),
          );
        }
        await Promise.all(acks);
      }),
    );
    const sendMs = performance.now() - sendStart;
    const sent = ready.length * opts.messagesPerClient;
    const expectedEach = sent - refused;
    const deadline = performance.now() + (opts.settleMs ?? 5000);
    while (performance.now() < deadline && ready.some((p) => p.received < expectedEach)) await sleep(20);
    const report = finish(true, '', { sent, refused, sendMs });
    if (refused > 0) {
      report.ok = false;
      report.reason = `${refused} messages were refused by the servers (${refusals.join('; ')})`;
    }
    return report;
  } finally {
    for (const p of participants) p.client.close();
  }

  function finish(ok: boolean, reason: string, sending = { sent: 0, refused: 0, sendMs: 0 }): DeliveryReport {
    const ready = participants.filter((p) => joined[p.index]);
    const expectedEach = sending.sent - sending.refused;
    const perNode: NodeDelivery[] = opts.nodes.map((n) => {
      const mine = ready.filter((p) => p.node === n.name);
      const received = mine.reduce((a, p) => a + p.received, 0);
      return {
        node: n.name,
        clients: mine.length,
        expected: expectedEach * mine.length,
        received,
        lost: expectedEach * mine.length - received,
        duplicated: mine.reduce((a, p) => a + p.duplicated, 0),
      };
    });
    const expected = expectedEach * ready.length;
    const received = perNode.reduce((a, n) => a + n.received, 0);
    const duplicated = perNode.reduce((a, n) => a + n.duplicated, 0);
    const outOfOrder = ready.reduce((a, p) => a + p.outOfOrder, 0);
    const lost = expected - received;
    const report: DeliveryReport = {
      ok,
      reason,
      clients: ready.length,
      sent: sending.sent,
      refused: sending.refused,
      expected,
      received,
      lost,
      duplicated,
      outOfOrder,
      latencyMs: summarize(latencies),
      crossNodeLatencyMs: summarize(crossLatencies),
      sendRatePerSec: sending.sendMs > 0 ? Math.round((sending.sent / sending.sendMs) * 1000) : 0,
      durationMs: Math.round(performance.now() - started),
      perNode,
      failures,
    };
    if (ok) {
      const problems: string[] = [];
      for (const n of perNode) if (n.lost > 0) problems.push(`${n.node} lost ${n.lost} of ${n.expected}`);
      if (duplicated > 0) problems.push(`${duplicated} duplicates`);
      if (outOfOrder > 0) problems.push(`${outOfOrder} out of order`);
      if (sending.sent === 0) problems.push('nothing was sent');
      report.ok = problems.length === 0;
      report.reason = report.ok
        ? `${received}/${expected} delivered exactly once, in order`
        : problems.join('; ');
    }
    return report;
  }
}
