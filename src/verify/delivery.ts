import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sleep } from '../util/time.js';
import type { FaultWindow } from '../faults/types.js';
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
  /**
   * A fault injected `atMs` after the first send, while sending goes on. The clients then come
   * back after a drop (joining again, as the page does), a sender whose connection is down waits
   * for it before sending, and the run is traced (report.trace) for the fault analysis.
   */
  fault?: { atMs: number; inject: () => Promise<FaultWindow> };
  /** how long a send waits for the server's ack (default 5 s) */
  ackTimeoutMs?: number;
}

/** What a fault run records beyond the counts: when each client received what, and when it was cut off. */
export interface DeliveryTrace {
  sendStart: number;
  sendEnd: number;
  window?: FaultWindow;
  injectError?: string;
  clients: {
    key: string;
    node: string;
    /** per sending node: the receipt times (performance.now) of its accepted messages, in arrival order */
    receipts: Map<string, number[]>;
    /** each time the connection dropped, and when it was back (joined again) */
    disconnects: { at: number; back?: number }[];
  }[];
  /** per receiving node: the send times of accepted messages one of its clients never got */
  lostSentAt: Map<string, number[]>;
}

export interface NodeDelivery {
  node: string;
  clients: number;
  expected: number;
  received: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
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
  /** fault runs only; not part of the JSON report */
  trace?: DeliveryTrace;
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
  /** fault runs: connected and joined (a sender waits while it is not) */
  ready: boolean;
  receipts: Map<string, number[]>;
  disconnects: { at: number; back?: number }[];
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
  // acknowledged by the server: only these are owed to every client (a refused or unanswered send
  // is known to its sender as not sent)
  const accepted = new Uint8Array(total * M);
  const prefix = `verify ${runId} `;
  const started = performance.now();
  const fault = opts.fault;
  const ackTimeoutMs = opts.ackTimeoutMs ?? 5000;
  let trace: DeliveryTrace | undefined;

  try {
    opts.onProgress?.(`connecting ${opts.nodes.length * opts.clientsPerNode} clients`);
    await Promise.all(
      opts.nodes.flatMap((node) =>
        Array.from({ length: opts.clientsPerNode }, async (_, i) => {
          const key = `${node.name}.${i}`;
          const index = opts.nodes.indexOf(node) * opts.clientsPerNode + i;
          const client = new ChatClient(node.url, key, { reconnect: fault !== undefined });
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
            ready: false,
            receipts: new Map(opts.nodes.map((n) => [n.name, []])),
            disconnects: [],
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
          p.ready = true;
          if (fault) followConnection(p);
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
            if (fault) p.receipts.get(senderNode[from]!)?.push(now);
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
    let injection: Promise<void> | undefined;
    if (fault) {
      trace = { sendStart, sendEnd: 0, clients: [], lostSentAt: new Map() };
      const t = trace;
      injection = sleep(fault.atMs).then(async () => {
        opts.onProgress?.('injecting the fault');
        try {
          t.window = await fault.inject();
        } catch (err) {
          t.injectError = (err as Error).message;
        }
      });
    }
    await Promise.all(
      ready.map(async (p, index) => {
        // spread the senders over one interval so they do not all fire at once
        await sleep((interval * index) / ready.length);
        const acks: Promise<void>[] = [];
        for (let seq = 0; seq < opts.messagesPerClient; seq++) {
          const due = sendStart + (interval * index) / ready.length + seq * interval;
          const wait = due - performance.now();
          if (wait > 1) await sleep(wait);
          // a page does not send into a dropped connection: wait (bounded) until it is back and joined
          for (let waited = 0; fault && !p.ready && waited < 15_000; waited += 20) await sleep(20);
          const id = p.index * M + seq;
          sentAt[id] = performance.now();
          acks.push(
            p.client.send(`${prefix}${p.index} ${seq}`, ackTimeoutMs).then(
              (ack) => {
                if (ack.ok) accepted[id] = 1;
                else {
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
    if (trace) trace.sendEnd = performance.now();
    await injection;
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

  /**
   * Keeps a fault run's client joined across drops: every new connection joins again (a session
   * the streams backplane recovered keeps its name; joining again is harmless).
   */
  function followConnection(p: Participant): void {
    const s = p.client.socket;
    s.on('disconnect', (reason) => {
      // our own close() at the end of the run is not an outage
      if (reason === 'io client disconnect') return;
      p.ready = false;
      p.disconnects.push({ at: performance.now() });
    });
    s.on('connect', () => {
      p.client.join(`verify-${p.key}`).then(
        (ack) => {
          if (!ack.ok) return;
          p.ready = true;
          const last = p.disconnects[p.disconnects.length - 1];
          if (last && last.back === undefined) last.back = performance.now();
        },
        () => {},
      );
    });
  }

  function finish(ok: boolean, reason: string, sending = { sent: 0, refused: 0, sendMs: 0 }): DeliveryReport {
    const ready = participants.filter((p) => joined[p.index]);
    const expectedEach = sending.sent - sending.refused;
    // With refusals, or in a fault run, count per message: a receipt of a send the server did not
    // acknowledge is not owed to anyone (without them every sent message is owed, as counted)
    if (sending.sent > 0 && (sending.refused > 0 || trace)) {
      for (const p of ready) {
        let owed = 0;
        const lostAt: number[] = [];
        for (let id = 0; id < total * M; id++) {
          if (!accepted[id]) continue;
          if (p.seen[id]) owed++;
          else if (trace) lostAt.push(sentAt[id]!);
        }
        p.received = owed;
        if (trace) trace.lostSentAt.set(p.node, [...(trace.lostSentAt.get(p.node) ?? []), ...lostAt]);
      }
    }
    if (trace) trace.clients = ready.map((p) => ({ key: p.key, node: p.node, receipts: p.receipts, disconnects: p.disconnects }));
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
        outOfOrder: mine.reduce((a, p) => a + p.outOfOrder, 0),
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
      ...(trace ? { trace } : {}),
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
