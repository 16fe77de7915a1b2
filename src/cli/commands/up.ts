import type { Command } from 'commander';
import { readableFile } from '../inputs.js';
import { webMachines, browserUrls, lbMachine } from '../../spec/types.js';
import { openLab, type GlobalOptions } from '../context.js';
import { print, printJson } from '../output.js';
import { formatMs, Reporter } from '../reporter.js';
import { createLab } from './create.js';
import { deployLab, NO_CACHE_OPTION } from './deploy.js';
import { printVerify, runVerify, withVerifyOptions, type VerifyCliOptions } from './verify.js';
import { runBrowserCheck } from './verify-browser.js';
import { chromiumPath } from '../../verify/browser.js';
import { checkpointFact } from '../../living/facts.js';
import { saveCheckpoint } from '../../living/checkpoints.js';

interface UpOptions extends VerifyCliOptions {
  redisTarball?: string;
  /** false with --no-cache */
  cache?: boolean;
  browser?: boolean;
  checkpoint?: boolean;
}

/** the checkpoint `up --checkpoint` takes after the lab's first green verify */
export const CLEAN_CHECKPOINT = 'clean';

export function registerUp(program: Command): void {
  withVerifyOptions(program.command('up'))
    .description('create + deploy + verify, with progress; on a lab that is already up it only verifies')
    .option('--redis-tarball <file>', 'build Redis from this local source tarball', readableFile)
    .option(...NO_CACHE_OPTION)
    .option('--checkpoint', `after the first green verify, take a checkpoint named "${CLEAN_CHECKPOINT}" of every machine (labctl checkpoint restore ${CLEAN_CHECKPOINT} comes back to it)`)
    .addHelpText('after', `\nExamples:\n  sudo labctl up\n  sudo labctl up --browser --json\n  sudo labctl up --checkpoint       # and keep the fresh lab as checkpoint "${CLEAN_CHECKPOINT}"\n  sudo labctl up --no-cache         # compile Redis even when the build cache has it (labctl cache ls)`)
    .action(async (opts: UpOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (opts.browser) chromiumPath();
      const reporter = new Reporter(g);
      const lab = openLab(g, 'up');
      // --no-cache: no Redis build from the cache, and no Hyper-V golden disk either
      if (opts.cache === false) lab.imageCache = false;
      const phases: Record<string, number> = {};
      const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
        const t0 = Date.now();
        try {
          return await fn();
        } finally {
          phases[name] = Date.now() - t0;
        }
      };
      try {
        const created = await timed('create', () => createLab(lab, reporter));
        const deployed = await timed('deploy', () => deployLab(lab, reporter, opts));
        const alreadyUp = created.applied.length === 0 && deployed.applied.length === 0;
        if (alreadyUp) reporter.info(`lab ${lab.spec.name} is already up: verifying only`);
        const report = await timed('verify', () => runVerify(lab, reporter, opts));
        const browser = opts.browser ? await timed('browser', () => runBrowserCheck(lab, reporter)) : undefined;
        if (browser) report.browser = browser;
        const ok = report.ok && (browser?.ok ?? true);
        // the first green verify of this lab: a good moment to keep, if asked (or to say it can be)
        let checkpoint: string | undefined;
        let canCheckpoint = false;
        if (ok && lab.provider.living && lab.store.fact(checkpointFact(CLEAN_CHECKPOINT)) === undefined) {
          if (opts.checkpoint) {
            await timed('checkpoint', () => saveCheckpoint(lab, CLEAN_CHECKPOINT, reporter));
            reporter.stop();
            checkpoint = CLEAN_CHECKPOINT;
          } else canCheckpoint = true;
        }
        if (g.json) {
          printJson({ ok, lab: lab.spec.name, provider: lab.provider.name, alreadyUp, phasesMs: phases, redisSource: deployed.redisSource, verify: report, ...(checkpoint ? { checkpoint } : {}) });
        } else {
          printVerify(report);
          if (browser) print(`browser check: ${browser.ok ? 'pass' : 'FAIL'}: ${browser.reason}${browser.screenshots.length ? `\n  screenshots: ${browser.screenshots.join(', ')}` : ''}`);
          print('');
          print(`phases: ${Object.entries(phases).map(([k, v]) => `${k} ${formatMs(v)}`).join(', ')}`);
          if (ok) {
            const lb = lbMachine(lab.spec);
            if (lb) {
              print(`The lab is up. Open it in your browser through its load balancer (${lb.name}): ${browserUrls(lab.spec)[0]!.url}`);
              print(`  each chat server on its own: ${webMachines(lab.spec).map((m) => `http://${m.ip}${lab.spec.app.port === 80 ? '' : `:${lab.spec.app.port}`}/`).join('  ')}`);
            } else {
              print(`The lab is up. Open each chat server in its own browser window:`);
              for (const m of webMachines(lab.spec)) print(`  http://${m.ip}${lab.spec.app.port === 80 ? '' : `:${lab.spec.app.port}`}/   (${m.name})`);
            }
            print('Watch the backplane: labctl watch   ·   Redis: labctl redis-cli   ·   Remove it all: labctl teardown');
            if (checkpoint) print(`Checkpoint "${checkpoint}" keeps this state: labctl checkpoint restore ${checkpoint} comes back to it.`);
            else if (canCheckpoint) print(`Keep this state to come back to: labctl checkpoint save ${CLEAN_CHECKPOINT} (or labctl up --checkpoint next time).`);
          }
        }
        process.exitCode = ok ? 0 : 1;
      } finally {
        await lab.close();
      }
    });
}
