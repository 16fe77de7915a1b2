import type { FaultWindow } from '../faults/types.js';
import type { Backplane } from '../spec/types.js';
import type { DeliveryReport, DeliveryTrace, NodeDelivery } from './delivery.js';

/** Recovery must be within this of the fault's end, whatever the backplane (issue 11). */
export const RECOVERY_LIMIT_MS = 5000;
/**
 * With pub/sub, messages may be lost during the outage, not outside it: a loss of a message sent
 * more than this before the fault began, or after recovery was due, is a failure.
 */
const OUTAGE_MARGIN_BEFORE_MS = 1000;

export interface NodeFaultFigures extends NodeDelivery {
  /** the longest time a client of the node received nothing from one of the sending nodes, around the fault */
  outageMs: number;
  /** how long after the fault ended the last of those gaps closed (0: it closed before); null: never */
  recoveryMs: number | null;
  /** the longest time one of its clients had no connection to its server */
  disconnectedMs: number;
  /** lost messages that were sent outside the outage (pub/sub may lose only inside it) */
  lostOutsideOutage: number;
  /** true when this node's losses are within what the backplane promises for this fault */
  lossAllowed: boolean;
  problems: string[];
}

export interface FaultReport {
  ok: boolean;
  reason: string;
  backplane: Backplane;
  /** what was done; startedAt/endedAt as wall-clock times (ISO 8601) */
  fault: (Omit<FaultWindow, 'startedAt' | 'endedAt'> & { startedAt: string; endedAt: string }) | { kind: string; target: string; error: string };
  /** the fault's times relative to the first send, for people */
  faultAtMs?: number;
  faultMs?: number;
  promise: string;
  /** messages the clients sent, and of those refused or left unanswered by their server (its sender knows: owed to no one) */
  sent: number;
  refused: number;
  perNode: NodeFaultFigures[];
}

/** What the backplane promises under this fault, in one line, and whether a node may lose messages. */
export function backplanePromise(backplane: Backplane, window: Pick<FaultWindow, 'kind' | 'target'>): { text: string; mayLose: (node: string) => boolean } {
  if (backplane === 'pubsub') {
    return { text: 'pub/sub is at most once: messages sent during the outage may be lost (reported), none twice, none out of order', mayLose: () => true };
  }
  if (window.kind === 'web-kill') {
    return {
      text: `streams: no loss on the nodes that stayed up; a crash ends the sessions of ${window.target}'s clients, so what was sent while they had no server may be lost there (reported)`,
      mayLose: (node) => node === window.target,
    };
  }
  return { text: 'streams: every accepted message reaches every client exactly once, in order', mayLose: () => false };
}

/**
 * Per receiving node: the outage its clients saw and the time to recover, from the receipt times.
 * For each client and each sending node, the longest gap between two receipts that overlaps the
 * fault is the outage it saw; its end is when delivery resumed. (Not any gap after the fault: a
 * pause seconds later, a GC or the run's own end, is not the fault's.)
 */
export function analyzeFault(delivery: DeliveryReport, trace: DeliveryTrace, backplane: Backplane): FaultReport {
  const window = trace.window;
  if (!window) {
    return {
      ok: false,
      reason: `the fault was not injected: ${trace.injectError ?? 'unknown error'}`,
      backplane,
      fault: { kind: '?', target: '?', error: trace.injectError ?? 'unknown error' },
      promise: '',
      sent: delivery.sent,
      refused: delivery.refused,
      perNode: [],
    };
  }
  const promise = backplanePromise(backplane, window);
  const perNode: NodeFaultFigures[] = delivery.perNode.map((n) => {
    const clients = trace.clients.filter((c) => c.node === n.node);
    let outageMs = 0;
    let recoveryMs: number | null = 0;
    let disconnectedMs = 0;
    for (const c of clients) {
      for (const [, times] of c.receipts) {
        const gap = longestGapAcross(times, window.startedAt, window.endedAt, trace.sendStart);
        if (!gap) {
          recoveryMs = null;
          continue;
        }
        outageMs = Math.max(outageMs, gap.to - gap.from);
        if (recoveryMs !== null) recoveryMs = Math.max(recoveryMs, Math.max(0, gap.to - window.endedAt));
      }
      for (const d of c.disconnects) disconnectedMs = Math.max(disconnectedMs, (d.back ?? performance.now()) - d.at);
    }
    const lostAt = trace.lostSentAt.get(n.node) ?? [];
    const from = window.startedAt - OUTAGE_MARGIN_BEFORE_MS;
    const to = window.endedAt + RECOVERY_LIMIT_MS;
    const lostOutsideOutage = lostAt.filter((t) => t < from || t > to).length;
    const lossAllowed = promise.mayLose(n.node);
    const problems: string[] = [];
    if (recoveryMs === null) problems.push('delivery never resumed after the fault');
    else if (recoveryMs > RECOVERY_LIMIT_MS) problems.push(`recovered ${fmt(recoveryMs)} after the fault ended (limit ${fmt(RECOVERY_LIMIT_MS)})`);
    if (n.lost > 0 && !lossAllowed) problems.push(`lost ${n.lost} (${backplane} promises none here)`);
    if (n.lost > 0 && lossAllowed && lostOutsideOutage > 0) problems.push(`${lostOutsideOutage} of the ${n.lost} lost were sent outside the outage`);
    if (n.duplicated > 0) problems.push(`${n.duplicated} duplicated`);
    if (n.outOfOrder > 0) problems.push(`${n.outOfOrder} out of order`);
    if (n.clients === 0) problems.push('no client connected');
    return {
      node: n.node,
      clients: n.clients,
      expected: n.expected,
      received: n.received,
      lost: n.lost,
      duplicated: n.duplicated,
      outOfOrder: n.outOfOrder,
      outageMs: Math.round(outageMs),
      recoveryMs: recoveryMs === null ? null : Math.round(recoveryMs),
      disconnectedMs: Math.round(disconnectedMs),
      lostOutsideOutage,
      lossAllowed,
      problems,
    };
  });
  const failing = perNode.filter((n) => n.problems.length > 0);
  const lost = perNode.reduce((a, n) => a + n.lost, 0);
  const worst = Math.max(0, ...perNode.map((n) => n.recoveryMs ?? Infinity));
  return {
    ok: failing.length === 0 && delivery.sent > 0,
    reason:
      failing.length > 0
        ? failing.map((n) => `${n.node}: ${n.problems.join(', ')}`).join('; ')
        : delivery.sent === 0
          ? 'nothing was sent'
          : `recovered within ${fmt(worst)} of the fault's end; ${lost} lost${lost > 0 ? ' (allowed: ' + (backplane === 'pubsub' ? 'pub/sub is at most once' : 'the crashed server\'s sessions') + ')' : ''}, 0 duplicated, 0 out of order`,
    backplane,
    fault: { ...window, startedAt: wallClock(window.startedAt), endedAt: wallClock(window.endedAt) },
    faultAtMs: Math.round(window.startedAt - trace.sendStart),
    faultMs: Math.round(window.endedAt - window.startedAt),
    promise: promise.text,
    sent: delivery.sent,
    refused: delivery.refused,
    perNode,
  };
}

/**
 * The longest gap between consecutive receipts that overlaps [from, to] (the fault); undefined
 * when no receipt came after `from` at all (delivery never resumed). Receipts before the first
 * send are impossible, so the run's start bounds the first gap.
 */
export function longestGapAcross(times: number[], from: number, to: number, start: number): { from: number; to: number } | undefined {
  let best: { from: number; to: number } | undefined;
  let prev = start;
  for (const t of times) {
    if (t >= from && prev <= to && (!best || t - prev > best.to - best.from)) best = { from: prev, to: t };
    prev = t;
  }
  return best;
}

function wallClock(t: number): string {
  return new Date(performance.timeOrigin + t).toISOString();
}

function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
