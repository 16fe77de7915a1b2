import { InterruptedError, interruptRequested, onInterrupt } from './cancel.js';

/**
 * Waits `ms`. Once labctl is interrupted (Ctrl-C) it rejects with InterruptedError instead, so
 * that every polling loop ends at once rather than holding the process until it gives up.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const signal = interruptRequested();
    if (signal) return reject(new InterruptedError(signal));
    const timer = setTimeout(() => {
      unregister();
      resolve();
    }, ms);
    const unregister = onInterrupt(() => {
      clearTimeout(timer);
      reject(new InterruptedError(interruptRequested() ?? 'SIGINT'));
    });
  });
}

export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}
