import { UsageError } from '../util/errors.js';
import type { ListedEntry } from './store.js';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "30d", "12h", "90m", "2w", "45s" → milliseconds; anything else is a usage error. */
export function parseAge(text: string, option = '--older-than'): number {
  const m = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (!m) throw new UsageError(`${option} ${JSON.stringify(text)}: give a whole number and a unit, e.g. 30d, 12h, 90m, 2w or 45s`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

export interface PruneChoice {
  /** every entry */
  all?: boolean;
  /** entries not used for at least this long */
  olderThanMs?: number;
}

/**
 * The entries prune removes: all of them, or those last used (installed from, or made) at
 * least `olderThanMs` ago. An entry that cannot be described (no readable entry.json) can never
 * be used, so it goes with any prune.
 */
export function selectPrune(entries: ListedEntry[], choice: PruneChoice, now = Date.now()): ListedEntry[] {
  if (choice.all) return [...entries];
  const age = choice.olderThanMs;
  if (age === undefined) return [];
  return entries.filter((e) => e.problem !== undefined || now - e.lastUsedMs >= age);
}
