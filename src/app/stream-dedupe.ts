import { createHash } from 'node:crypto';

/** One entry of the streams adapter's stream, as it hands it to onRawMessage. */
export interface RawEntry {
  uid: string;
  nsp: string;
  type: string;
  data?: string;
}

/**
 * Drops a stream entry that repeats one read in the last `windowMs`: the same server (uid), type
 * and payload. Why: ioredis re-sends a command whose reply never came when its connection is
 * replaced (the app's watchdog does that after a link is silent for 5 s). An XADD that Redis had
 * already appended before the link went quiet is then appended twice, and every other server
 * would deliver it twice. Chat messages carry a unique id, so two equal entries are one message.
 * (The sending server is not affected: it delivers locally once, when its XADD is answered.)
 */
export function dropRepeatedEntries<A extends { onRawMessage(raw: RawEntry, offset: string): unknown }>(adapter: A, windowMs = 60_000, max = 10_000): A {
  // insertion order is arrival order, so the oldest are at the front
  const seen = new Map<string, number>();
  const read = adapter.onRawMessage.bind(adapter);
  adapter.onRawMessage = (raw: RawEntry, offset: string) => {
    const now = Date.now();
    for (const [k, at] of seen) {
      if (now - at < windowMs && seen.size < max) break;
      seen.delete(k);
    }
    const key = createHash('sha1').update(`${raw.uid}\n${raw.nsp}\n${raw.type}\n${raw.data ?? ''}`).digest('base64');
    if (seen.has(key)) return;
    seen.set(key, now);
    return read(raw, offset);
  };
  return adapter;
}
