import type { Command } from 'commander';
import { parseAge, selectPrune } from '../../buildcache/prune.js';
import { BuildCache, type ListedEntry } from '../../buildcache/store.js';
import { UsageError } from '../../util/errors.js';
import { CACHE_ACTIONS } from '../completion.js';
import { openLab, resolveHome, type GlobalOptions } from '../context.js';
import { goldenCacheAction } from './cache-golden.js';
import { print, printJson } from '../output.js';
import { table } from '../reporter.js';
import { rmSync } from 'node:fs';


interface CacheOptions {
  all?: boolean;
  olderThan?: string;
}

/** a fill or removal interrupted this long ago is over: its folder is a leftover */
const LEFTOVER_AGE_MS = 3_600_000;

export function registerCache(program: Command): void {
  program
    .command('cache')
    .argument('<action>', CACHE_ACTIONS.join(', '))
    .description('list or prune the build cache: Redis builds kept on this host, installed instead of compiling again')
    .option('--all', 'prune: every entry')
    .option('--older-than <age>', 'prune: entries not used for this long (30d, 12h, 90m, 2w, 45s)')
    .addHelpText(
      'after',
      `
Every Redis built from source is kept under <home>/cache/redis/builds/<key>/ (LABCTL_CACHE moves
the cache), keyed by the source's sha256, the Redis version, and the machine's architecture,
distribution (/etc/os-release) and compiler (cc --version). A lab whose build has the same key
installs it instead of compiling: checked against its digests on the host and file by file on the
machine; a damaged entry is removed and Redis compiled again. deploy/up --no-cache bypass it.

Examples:
  sudo labctl cache ls
  sudo labctl cache ls --json | jq -r '.entries[] | "\\(.key[0:12]) \\(.redisVersion) \\(.bytes)"'
  sudo labctl cache prune --older-than 30d    # entries not used for 30 days
  sudo labctl cache prune --all
  labctl cache ls --provider hyperv --spec my-lab.yaml      # the Ubuntu golden disks on the Hyper-V host
  labctl cache prune --provider hyperv --all                 # those no VM uses (a child's parent is kept)`,
    )
    .action(async (action: string, opts: CacheOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (!(CACHE_ACTIONS as readonly string[]).includes(action)) throw new UsageError(`labctl cache ${action}: the action is one of ${CACHE_ACTIONS.join(', ')}`);
      if (action === 'ls' && (opts.all || opts.olderThan !== undefined)) throw new UsageError('labctl cache ls takes no --all or --older-than (they choose what prune removes)');
      if (action === 'prune' && opts.all && opts.olderThan !== undefined) throw new UsageError('labctl cache prune: give --all or --older-than, not both');
      if (action === 'prune' && !opts.all && opts.olderThan === undefined) throw new UsageError('labctl cache prune: say what to remove: --all, or --older-than AGE (e.g. 30d)');
      const olderThanMs = opts.olderThan === undefined ? undefined : parseAge(opts.olderThan);
      // --provider hyperv: the Ubuntu golden disks on the Hyper-V host (cache-golden.ts)
      if (g.provider === 'hyperv') return goldenCacheAction(openLab(g, `cache ${action}`, { lock: false }), action, { all: opts.all, olderThanMs }, g);
      const cache = BuildCache.forHome(resolveHome(g));
      if (action === 'ls') return list(cache, g);
      const chosen = selectPrune(cache.list(), { all: opts.all, olderThanMs });
      for (const e of chosen) cache.remove(e.key);
      for (const dir of cache.leftovers(opts.all ? 0 : LEFTOVER_AGE_MS)) rmSync(dir, { recursive: true, force: true });
      const kept = cache.list().length;
      const freed = chosen.reduce((n, e) => n + e.bytes, 0);
      if (g.json) printJson({ ok: true, dir: cache.dir, removed: chosen.map(describe), kept, freedBytes: freed });
      else if (chosen.length === 0) print(`nothing to prune (${kept} entr${kept === 1 ? 'y' : 'ies'} kept in ${cache.dir})`);
      else {
        print(`removed ${chosen.length} entr${chosen.length === 1 ? 'y' : 'ies'} (${mb(freed)}), kept ${kept}:`);
        for (const e of chosen) print(`  ${e.key.slice(0, 12)}  ${e.info ? `Redis ${e.info.fields.redisVersion}, last used ${when(e.lastUsedMs)}` : e.problem}`);
      }
    });
}

function list(cache: BuildCache, g: GlobalOptions): void {
  const entries = cache.list();
  const total = entries.reduce((n, e) => n + e.bytes, 0);
  if (g.json) {
    printJson({ dir: cache.dir, entries: entries.map(describe), bytes: total, ...(cache.unsafe() ? { unusable: cache.unsafe() } : {}) });
    return;
  }
  if (entries.length === 0) {
    print(`the build cache is empty (${cache.dir})`);
    return;
  }
  print(
    table(
      ['KEY', 'REDIS', 'SOURCE', 'ARCH', 'DISTRIBUTION', 'COMPILER', 'SIZE', 'CREATED', 'LAST USED'],
      entries.map((e) => {
        const f = e.info?.fields;
        if (!f) return [e.key.slice(0, 12), '?', `(${e.problem}: prune removes it)`, '', '', '', mb(e.bytes), '', when(e.lastUsedMs)];
        return [e.key.slice(0, 12), f.redisVersion, `sha256 ${f.sourceSha256.slice(0, 12)}…`, f.arch, f.distribution, f.compiler, mb(e.bytes), when(Date.parse(e.info!.created)), when(e.lastUsedMs)];
      }),
    ),
  );
  print(`${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, ${mb(total)} in ${cache.dir}`);
  const unsafe = cache.unsafe();
  if (unsafe) print(`deploy does not use this cache: ${unsafe} (it must be a folder of this user's that others cannot write to)`);
}

function describe(e: ListedEntry) {
  const f = e.info?.fields;
  return {
    key: e.key,
    redisVersion: f?.redisVersion ?? null,
    sourceSha256: f?.sourceSha256 ?? null,
    arch: f?.arch ?? null,
    distribution: f?.distribution ?? null,
    compiler: f?.compiler ?? null,
    recipe: f?.recipe ?? null,
    bytes: e.bytes,
    created: e.info?.created ?? null,
    lastUsed: new Date(e.lastUsedMs).toISOString(),
    origin: e.info?.origin ?? null,
    builtBy: e.info?.builtBy ?? null,
    ...(e.problem ? { problem: e.problem } : {}),
  };
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);
