import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { verifyLab, type VerifyReport } from '../../verify/checks.js';
import { LabNotCreatedError, OperationError } from '../../util/errors.js';
import { openLab, type GlobalOptions, type Lab } from '../context.js';
import { print, printJson } from '../output.js';
import { Reporter, table } from '../reporter.js';
import { chromiumPath } from '../../verify/browser.js';
import { runBrowserCheck } from './verify-browser.js';

export interface VerifyCliOptions {
  clients: number;
  messages: number;
  /** messages per second each client sends; default 80% of the spec's per-connection limit */
  rate?: number;
  browser?: boolean;
}

export function positiveInt(max: number) {
  return (value: string): number => {
    // digits only: Number() would take "0x10", "1e2" and " 5 " as numbers
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`must be a whole number from 1 to ${max}`);
    return n;
  };
}

/** The load and browser options verify and up share. */
export function withVerifyOptions(cmd: Command, { browser = true }: { browser?: boolean } = {}): Command {
  cmd
    .option('--clients <n>', 'chat clients per web node in the delivery check', positiveInt(200), 2)
    .option('--messages <n>', 'messages each client sends', positiveInt(10000), 50)
    .option('--rate <n>', "messages per second each client sends (default: 80% of the spec's app.rateLimit.perSecond)", positiveInt(100000));
  return browser ? cmd.option('--browser', 'also open one Chromium window per web node and exchange messages between them') : cmd;
}

export function registerVerify(program: Command): void {
  withVerifyOptions(program.command('verify'))
    .description('prove the lab works: Redis auth and build, each web node, cross-node delivery with latency, the backplane')
    .addHelpText(
      'after',
      '\nExit code 0 only when every check passes.\n\nExamples:\n  labctl verify\n  labctl verify --clients 5 --messages 200 --json\n  labctl verify --browser',
    )
    .action(async (opts: VerifyCliOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (opts.browser) chromiumPath(); // a missing browser is a usage problem: say so before any work
      const lab = openLab(g, 'verify', { lock: false });
      try {
        const reporter = new Reporter(g);
        const report = await runVerify(lab, reporter, opts);
        if (opts.browser) {
          const browser = await runBrowserCheck(lab, reporter);
          report.browser = browser;
          report.checks.push({ name: 'two browser windows see each other\'s messages', ok: browser.ok, reason: browser.reason, node: browser.node });
          report.ok = report.ok && browser.ok;
        }
        if (g.json) printJson(report.ok ? report : { ...report, code: 'VERIFY_FAILED' });
        else {
          printVerify(report);
          if (report.browser?.screenshots.length) print(`screenshots:\n${report.browser.screenshots.map((s) => `  ${s}`).join('\n')}`);
        }
        process.exitCode = report.ok ? 0 : 1;
      } finally {
        await lab.close();
      }
    });
}

export async function runVerify(lab: Lab, reporter: Reporter, opts: VerifyCliOptions): Promise<VerifyReport> {
  if (!lab.store.exists()) throw new LabNotCreatedError(`lab ${lab.spec.name} is not created: run labctl up`);
  await refuseStopped(lab);
  reporter.phase(`verify ${lab.spec.name} (${lab.provider.name})`);
  return verifyLab(lab, lab.provider, { ...opts, onProgress: (t) => reporter.info(`  ${t}`) });
}

/**
 * A stopped machine fails every check that needs it: say that once, plainly, instead of a
 * table of connection errors.
 */
async function refuseStopped(lab: Lab): Promise<void> {
  const down = (await lab.provider.status(lab)).filter((m) => m.state === 'stopped');
  if (down.length === 0) return;
  const all = down.length === lab.spec.machines.length;
  const names = down.map((m) => m.name).join(', ');
  throw new OperationError(
    all
      ? `lab ${lab.spec.name} is stopped (${names}): labctl start brings it back, then verify`
      : `${names} ${down.length === 1 ? 'is' : 'are'} stopped in lab ${lab.spec.name}: labctl start ${down.map((m) => m.name).join(' ')} brings ${down.length === 1 ? 'it' : 'them'} back, then verify`,
    [],
    'LAB_STOPPED',
  );
}

export function printVerify(r: VerifyReport): void {
  print(table(['CHECK', 'RESULT', 'DETAIL'], r.checks.map((c) => [c.name, c.ok ? 'pass' : 'FAIL', c.reason])));
  const d = r.delivery;
  if (d && d.sent > 0) {
    print('');
    print(`delivery: ${d.clients} clients sent ${d.sent} messages (${d.sendRatePerSec}/s); expected ${d.expected} receipts, received ${d.received}, lost ${d.lost}, duplicated ${d.duplicated}, out of order ${d.outOfOrder}`);
    const l = d.latencyMs;
    const x = d.crossNodeLatencyMs;
    print(`latency (ms, send → receipt): p50 ${l.p50}  p95 ${l.p95}  p99 ${l.p99}  max ${l.max};  cross-node only: p50 ${x.p50}  p99 ${x.p99}`);
  }
  print('');
  print(r.ok ? `all ${r.checks.length} checks passed` : `${r.checks.filter((c) => !c.ok).length} of ${r.checks.length} checks FAILED`);
}
