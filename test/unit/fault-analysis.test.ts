/**
 * verify --fault's verdict (src/verify/fault-analysis.ts) on made-up runs: the outage and the time
 * to recover from receipt times, and what each backplane promises — pub/sub may lose messages sent
 * during the outage (reported) but not outside it; streams may lose none, except on the node whose
 * server crashed; nobody may duplicate or reorder; recovery within 5 s of the fault's end.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeliveryReport, DeliveryTrace } from '../../src/verify/delivery.js';
import { analyzeFault, backplanePromise, longestGapAcross } from '../../src/verify/fault-analysis.js';
import type { FaultWindow } from '../../src/faults/types.js';

const FAULT: FaultWindow = { kind: 'redis-restart', target: 'redis', startedAt: 3000, endedAt: 3200, detail: 'test' };

/** receipts every 20 ms from 0 to 14 s, except in [gapFrom, gapTo) */
function receipts(gapFrom = Infinity, gapTo = Infinity, end = 14_000): number[] {
  const out: number[] = [];
  for (let t = 20; t <= end; t += 20) if (t < gapFrom || t >= gapTo) out.push(t);
  return out;
}

interface NodeCase {
  lost?: number;
  duplicated?: number;
  outOfOrder?: number;
  /** receipt times from each sending node, for each of the node's two clients */
  from?: Record<string, number[]>;
  lostSentAt?: number[];
}

function run(nodes: Record<string, NodeCase>, window: FaultWindow | null = FAULT): { delivery: DeliveryReport; trace: DeliveryTrace } {
  const names = Object.keys(nodes);
  const perNode = names.map((node) => {
    const c = nodes[node]!;
    return { node, clients: 2, expected: 1000, received: 1000 - (c.lost ?? 0), lost: c.lost ?? 0, duplicated: c.duplicated ?? 0, outOfOrder: c.outOfOrder ?? 0 };
  });
  const trace: DeliveryTrace = {
    sendStart: 0,
    sendEnd: 14_000,
    window: window ?? undefined,
    injectError: window ? undefined : 'ssh: connection refused',
    clients: names.flatMap((node) =>
      [0, 1].map((i) => ({
        key: `${node}.${i}`,
        node,
        receipts: new Map(names.map((s) => [s, nodes[node]!.from?.[s] ?? receipts()])),
        disconnects: [],
      })),
    ),
    lostSentAt: new Map(names.map((n) => [n, nodes[n]!.lostSentAt ?? []])),
  };
  const delivery = { sent: 500, refused: 0, perNode } as unknown as DeliveryReport;
  return { delivery, trace };
}

describe('verify --fault: the verdict', () => {
  it('the outage is the gap that overlaps the fault, not a later pause (a GC, the end of the run)', () => {
    const times = [...receipts(2990, 3400, 9000), 9500, 9520];
    // a 500 ms pause at 9 s is longer than the fault's 410 ms gap, but it is not the fault's
    assert.deepEqual(longestGapAcross(times, 3000, 3200, 0), { from: 2980, to: 3400 });
    assert.equal(longestGapAcross(receipts(2990, Infinity), 3000, 3200, 0), undefined, 'never resumed');
  });

  it('pubsub: losses during the outage pass and are reported; recovery is the outage\'s end after the fault\'s end', () => {
    const { delivery, trace } = run({
      web1: { lost: 12, lostSentAt: [3010, 3100, 3190], from: { web1: receipts(), web2: receipts(2990, 3500) } },
      web2: { lost: 14, lostSentAt: [3050], from: { web1: receipts(2990, 3350), web2: receipts() } },
    });
    const r = analyzeFault(delivery, trace, 'pubsub');
    assert.equal(r.ok, true, r.reason);
    const [w1, w2] = r.perNode;
    assert.equal(w1!.outageMs, 520, 'from the last receipt before (2980) to the first after (3500)');
    assert.equal(w1!.recoveryMs, 300, '3500 - the fault\'s end at 3200');
    assert.equal(w2!.recoveryMs, 160);
    assert.equal(w1!.lossAllowed, true);
    assert.match(r.reason, /26 lost \(allowed: pub\/sub is at most once\)/);
    assert.match(r.promise, /at most once/);
  });

  it('pubsub: a message lost outside the outage fails (at most once is no excuse for losing at any time)', () => {
    const { delivery, trace } = run({ web1: { lost: 2, lostSentAt: [3100, 12_000] }, web2: {} });
    const r = analyzeFault(delivery, trace, 'pubsub');
    assert.equal(r.ok, false);
    assert.match(r.reason, /web1: 1 of the 2 lost were sent outside the outage/);
  });

  it('streams: any loss fails, and so do duplicates and reordering under either backplane', () => {
    const lost = analyzeFault(...Object.values(run({ web1: { lost: 1, lostSentAt: [3100] }, web2: {} })) as [DeliveryReport, DeliveryTrace], 'streams');
    assert.equal(lost.ok, false);
    assert.match(lost.reason, /web1: lost 1 \(streams promises none here\)/);
    for (const backplane of ['pubsub', 'streams'] as const) {
      const dup = analyzeFault(...Object.values(run({ web1: { duplicated: 3 }, web2: { outOfOrder: 1 } })) as [DeliveryReport, DeliveryTrace], backplane);
      assert.equal(dup.ok, false);
      assert.match(dup.reason, /web1: 3 duplicated; web2: 1 out of order/);
    }
  });

  it('streams with web-kill: the crashed node\'s clients may lose what came while they had no server; the others may not', () => {
    const kill: FaultWindow = { kind: 'web-kill', target: 'web1', startedAt: 3000, endedAt: 3300, detail: 'test' };
    const ok = analyzeFault(...Object.values(run({ web1: { lost: 20, lostSentAt: [3100] }, web2: {} }, kill)) as [DeliveryReport, DeliveryTrace], 'streams');
    assert.equal(ok.ok, true, ok.reason);
    assert.equal(ok.perNode[0]!.lossAllowed, true);
    assert.equal(ok.perNode[1]!.lossAllowed, false);
    const bad = analyzeFault(...Object.values(run({ web1: {}, web2: { lost: 1, lostSentAt: [3100] } }, kill)) as [DeliveryReport, DeliveryTrace], 'streams');
    assert.equal(bad.ok, false);
    assert.match(bad.reason, /web2: lost 1/);
    assert.match(backplanePromise('streams', kill).text, /crash ends the sessions of web1's clients/);
  });

  it('recovery later than 5 s after the fault ended fails; delivery that never resumes fails', () => {
    const slow = analyzeFault(...Object.values(run({ web1: { from: { web1: receipts(), web2: receipts(2990, 8300) } }, web2: {} })) as [DeliveryReport, DeliveryTrace], 'streams');
    assert.equal(slow.ok, false);
    assert.equal(slow.perNode[0]!.recoveryMs, 5100);
    assert.match(slow.reason, /web1: recovered 5\.1 s after the fault ended \(limit 5\.0 s\)/);
    const never = analyzeFault(...Object.values(run({ web1: {}, web2: { from: { web1: receipts(2990, Infinity), web2: receipts() } } })) as [DeliveryReport, DeliveryTrace], 'pubsub');
    assert.equal(never.ok, false);
    assert.equal(never.perNode[1]!.recoveryMs, null);
    assert.match(never.reason, /web2: delivery never resumed after the fault/);
  });

  it('a fault that could not be injected fails with its error', () => {
    const r = analyzeFault(...Object.values(run({ web1: {}, web2: {} }, null)) as [DeliveryReport, DeliveryTrace], 'pubsub');
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'the fault was not injected: ssh: connection refused');
  });
});
