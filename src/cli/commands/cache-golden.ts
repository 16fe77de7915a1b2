import type { Lab } from '../context.js';
import type { GlobalOptions } from '../context.js';
import { hypervEnvOf, listGolden, pruneGolden, type GoldenEntry } from '../../providers/hyperv/golden-cache.js';
import { OperationError } from '../../util/errors.js';
import { print, printJson } from '../output.js';
import { table } from '../reporter.js';

/**
 * `labctl cache ls|prune --provider hyperv`: the Ubuntu golden disks in the spec's image cache
 * on the Hyper-V host. prune never removes one a VM's disk is a child of: it says which VM.
 */
export async function goldenCacheAction(lab: Lab, action: string, choice: { all?: boolean; olderThanMs?: number }, g: GlobalOptions): Promise<void> {
  try {
    const env = hypervEnvOf(lab.provider, lab);
    if (!env) throw new OperationError('the golden disks live on the Hyper-V host: give --provider hyperv and a spec with a hyperv: block');
    if (action === 'ls') {
      const entries = await listGolden(env);
      if (g.json) printJson({ dir: env.cfg.cacheDir, golden: entries });
      else if (entries.length === 0) print(`no Ubuntu golden disk in ${env.cfg.cacheDir}`);
      else {
        print(table(['KEY', 'ISO', 'MADE BY', 'CREATED', 'USED BY'], entries.map((e) => [e.key, e.iso ?? '?', e.madeBy ?? '?', e.created.slice(0, 16).replace('T', ' '), users(e) || '-'])));
        print(`${entries.length} golden disk${entries.length === 1 ? '' : 's'} in ${env.cfg.cacheDir}`);
      }
      return;
    }
    const now = Date.now();
    const r = await pruneGolden(env, (e) => Boolean(choice.all) || (choice.olderThanMs !== undefined && now - Date.parse(e.created) >= choice.olderThanMs));
    if (g.json) {
      printJson({ ok: true, dir: env.cfg.cacheDir, removed: r.removed.map((e) => e.path), refused: r.refused.map((e) => ({ path: e.path, usedBy: e.usedBy })), kept: r.kept });
      return;
    }
    for (const e of r.removed) print(`removed ${e.path}`);
    for (const e of r.refused) print(`kept ${e.path}: in use by ${users(e)} (a differencing disk needs its parent; tear those labs down first)`);
    if (r.removed.length === 0 && r.refused.length === 0) print(`nothing to prune (${r.kept} golden disk${r.kept === 1 ? '' : 's'} kept in ${env.cfg.cacheDir})`);
  } finally {
    await lab.close();
  }
}

function users(e: GoldenEntry): string {
  return e.usedBy.map((u) => `${u.vm} (${u.state})`).join(', ');
}
