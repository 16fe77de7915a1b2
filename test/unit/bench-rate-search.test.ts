/**
 * The benchmarks' rate search (scripts/lib/rate-search.mjs): doubling, then bisecting between the
 * last pass and the first failure; a failing rate is tried again before it counts as over; a
 * throwing trial is a failure with its message kept.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
// @ts-expect-error a plain ES module of the scripts, without types
import { searchRate } from '../../scripts/lib/rate-search.mjs';

const quiet = () => {};
const passBelow = (limit: number) => async (rate: number) => ({ ok: rate < limit, rate, achieved: rate, p50: 1, p99: 2, lost: 0 });

describe('benchmark rate search', () => {
  test('finds the highest passing rate within 5 % and the lowest failing one', async () => {
    const r = await searchRate({ label: 't', trial: passBelow(1000), log: quiet, start: 100, bisect: 4 });
    assert.ok(r.best < 1000 && r.best >= 900, `best ${r.best}`);
    assert.ok(r.bound >= 1000 && r.bound - r.best <= r.best * 0.12, `bound ${r.bound}`);
  });

  test('a rate fails only when it fails twice in a row (retries: 1); with retries 0 once is enough', async () => {
    const flaky = (limit: number) => {
      const seen = new Set<number>();
      return async (rate: number) => {
        // the first try of 800/s stalls once
        const first = !seen.has(rate);
        seen.add(rate);
        return { ok: rate < limit && !(rate === 800 && first), rate, achieved: rate, p50: 1, p99: 2, lost: 0 };
      };
    };
    assert.ok((await searchRate({ label: 't', trial: flaky(2000), log: quiet, start: 100 })).best >= 1600);
    assert.equal((await searchRate({ label: 't', trial: flaky(2000), log: quiet, start: 100, retries: 0 })).bound, 800);
  });

  test('a throwing trial counts as over, with its message as the note; when the start rate fails, the search bisects below it (3 times), and nothing passing is best 0', async () => {
    const lines: string[] = [];
    const r = await searchRate({ label: 'raw', trial: async () => { throw new Error('ECONNREFUSED'); }, log: (l: string) => lines.push(l), start: 250 });
    assert.deepEqual([r.best, r.bound, r.trials.map((t: { rate: number }) => t.rate)], [0, 32, [250, 250, 125, 125, 63, 63, 32, 32]]);
    assert.match(lines[0]!, /raw 250\/s: .* -> over \(ECONNREFUSED\)/);
  });

  test('stops at the deadline', async () => {
    const r = await searchRate({ label: 't', trial: passBelow(1e9), log: quiet, start: 100, deadline: 0 });
    assert.deepEqual([r.best, r.bound, r.trials.length], [0, null, 0]);
  });
});
