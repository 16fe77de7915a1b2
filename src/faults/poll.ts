import { performance } from 'node:perf_hooks';
import { OperationError } from '../util/errors.js';
import { sleep } from '../util/time.js';

/**
 * Polls `check` every 50 ms until it holds; resolves the moment (performance.now) it first did,
 * which is when a fault's effect is over. Throws naming `what` after `withinMs`.
 */
export async function pollUntil(what: string, check: () => Promise<boolean>, withinMs: number): Promise<number> {
  const deadline = performance.now() + withinMs;
  while (performance.now() < deadline) {
    if (await check()) return performance.now();
    await sleep(50);
  }
  throw new OperationError(`${what}: not within ${withinMs / 1000} s`);
}
