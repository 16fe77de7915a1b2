// The highest rate a trial passes at: doubling from `start` until a rate fails, then bisecting
// between the last pass and the first failure. Shared by the throughput benchmarks.
import { performance } from 'node:perf_hooks';

const fmt = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : String(v));

/**
 * `trial(rate)` resolves { ok, rate, achieved, p50, p99, lost, note? }; a throw counts as a failed
 * trial with its message as the note. `retries`: how many more times a failing rate is tried
 * before it counts as over (on a loaded 2-core host one trial can miss from a single stall).
 * Stops at `deadline` (performance.now() milliseconds). Returns the best passing rate, the
 * lowest failing one (null: none found) and every trial.
 */
export async function searchRate({ label, trial, log, start, max = 64_000, bisect = 3, retries = 1, deadline = Infinity }) {
  const trials = [];
  let lo = 0;
  let hi = 0;
  const once = async (rate) => {
    let t;
    try {
      t = await trial(rate);
    } catch (err) {
      t = { ok: false, rate, achieved: 0, p50: NaN, p99: NaN, lost: NaN, note: err instanceof Error ? err.message : String(err) };
    }
    trials.push(t);
    log(`    ${label} ${rate}/s: achieved ${t.achieved}/s, p50 ${fmt(t.p50)} ms, p99 ${fmt(t.p99)} ms, lost ${fmt(t.lost)} -> ${t.ok ? 'ok' : 'over'}${t.note ? ` (${t.note})` : ''}`);
    return t.ok;
  };
  const passes = async (rate) => {
    for (let i = 0; i <= retries; i++) {
      if (i > 0 && performance.now() >= deadline) return false;
      if (await once(rate)) return true;
    }
    return false;
  };
  for (let rate = start; rate <= max && performance.now() < deadline; rate *= 2) {
    if (!(await passes(rate))) {
      hi = rate;
      break;
    }
    lo = rate;
  }
  for (let i = 0; i < bisect && hi > 0 && hi - lo > lo * 0.05 && performance.now() < deadline; i++) {
    const rate = Math.round((lo + hi) / 2);
    if (await passes(rate)) lo = rate;
    else hi = rate;
  }
  return { best: lo, bound: hi || null, trials };
}
