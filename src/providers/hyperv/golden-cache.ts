import type { LabContext, Provider } from '../provider.js';
import { invoke, type HypervEnv } from './env.js';
import { goldenCalls } from './golden.js';

/** One Ubuntu golden disk on the Hyper-V host, as `labctl cache ls|prune --provider hyperv` shows it. */
export interface GoldenEntry {
  path: string;
  key: string;
  bytes: number;
  created: string;
  readOnly: boolean;
  iso?: string;
  isoSha256?: string;
  madeBy?: string;
  /** VMs whose disk has it as a parent (or is it): it must stay */
  usedBy: { vm: string; state: string; disk: string }[];
}

interface RawEntry {
  path: string;
  bytes: number;
  readOnly: boolean;
  created: string;
  note: string | null;
  usedBy: { vm: string; state: string; disk: string }[] | null;
}

interface CacheAnswer {
  entries: RawEntry[] | null;
  removed: string[] | null;
  kept: { path: string; usedBy: GoldenEntry['usedBy'] }[] | null;
}

/** The hyperv provider's env for a lab, or undefined for another provider. */
export function hypervEnvOf(provider: Provider, lab: LabContext): HypervEnv | undefined {
  const p = provider as Provider & { env?: (lab: LabContext) => HypervEnv };
  return provider.name === 'hyperv' && typeof p.env === 'function' ? p.env(lab) : undefined;
}

function entry(raw: RawEntry): GoldenEntry {
  let note: Record<string, string> = {};
  try {
    note = raw.note ? JSON.parse(raw.note) : {};
  } catch {
    note = {};
  }
  const key = /ubuntu-golden-([0-9a-f]+)\.vhdx$/i.exec(raw.path)?.[1] ?? '?';
  return {
    path: raw.path,
    key,
    bytes: raw.bytes,
    created: note.created ?? raw.created,
    readOnly: raw.readOnly,
    iso: note.iso,
    isoSha256: note.isoSha256,
    madeBy: note.lab ? `${note.lab}/${note.machine}` : undefined,
    usedBy: raw.usedBy ?? [],
  };
}

export async function listGolden(env: HypervEnv): Promise<GoldenEntry[]> {
  const r = await invoke<CacheAnswer>(env, goldenCalls.cache(env.cfg));
  return (r.entries ?? []).map(entry);
}

export interface GoldenPruneResult {
  removed: GoldenEntry[];
  /** chosen, but a VM's disk is its child: kept, with the VMs */
  refused: GoldenEntry[];
  kept: number;
}

/** Removes the chosen golden disks that no VM uses; the host script checks again as it removes. */
export async function pruneGolden(env: HypervEnv, choose: (e: GoldenEntry) => boolean): Promise<GoldenPruneResult> {
  const chosen = (await listGolden(env)).filter(choose);
  if (chosen.length === 0) return { removed: [], refused: [], kept: (await listGolden(env)).length };
  const r = await invoke<CacheAnswer>(env, goldenCalls.cache(env.cfg, chosen.map((e) => e.path)), undefined, 10 * 60_000);
  const removed = new Set(r.removed ?? []);
  const refused = (r.kept ?? []).map((k) => ({ ...chosen.find((e) => e.path === k.path)!, usedBy: k.usedBy ?? [] }));
  return { removed: chosen.filter((e) => removed.has(e.path)), refused, kept: (r.entries ?? []).length };
}
