import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { verifyLab, type VerifyReport } from '../../verify/checks.js';
import { LabNotCreatedError, OperationError } from '../../util/errors.js';
import { openLab, type GlobalOptions, type Lab } from '../context.js';
import { print, printJson } from '../output.js';
import { Reporter, table } from '../reporter.js';
import { chromiumPath } from '../../verify/browser.js';
import { runBrowserCheck } from './verify-browser.js';
import { FAULT_KINDS, type FaultKind } from '../../faults/types.js';
import { checkFaultRunLength, faultRunMessages, faultTarget, type FaultRequest } from '../../verify/fault-run.js';
import type { FaultReport } from '../../verify/fault-analysis.js';
import { UsageError } from '../../util/errors.js';

export interface VerifyCliOptions {
  clients: number;
  messages: number;
  /** messages per second each client sends; default 80% of the spec's per-connection limit */
  rate?: number;
  browser?: boolean;
  fault?: FaultKind;
  faultTarget?: string;
  /** link-cut: seconds the link stays down */
  faultFor?: number;
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

function faultKind(value: string): FaultKind {
  if (!(FAULT_KINDS as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${FAULT_KINDS.join(', ')}`);
  return value as FaultKind;
}

export function registerVerify(program: Command): void {
  withVerifyOptions(program.command('verify'))
    .option('--fault <kind>', `inject a fault while measuring delivery: ${FAULT_KINDS.join(' | ')}`, faultKind)
    .option('--fault-target <machine>', 'the machine the fault goes to (default: redis for redis-restart and link-cut, the first web node for web-kill; redis-failover finds its own)')
    .option('--fault-for <seconds>', 'link-cut: how long the link stays down', positiveInt(30), 3)
    .description('prove the lab works: Redis auth and build, each web node, cross-node delivery with latency, the backplane')
    .addHelpText(
      'after',
      [
        '',
        'Exit code 0 only when every check passes.',
        '',
        'With --fault, the delivery measurement runs about 14 s (--messages defaults to match) and the fault',
        'comes 3 s in: redis-restart restarts the Redis service; web-kill kills one web node\'s chat app',
        '(SIGKILL) and starts it again; link-cut sets a machine\'s link down for --fault-for seconds;',
        'redis-failover (a Redis Cluster with replicasPerMaster 1) kills the master of the chat channel\'s shard',
        '(SIGKILL), waits for its replica to be promoted and every web node back, then starts it again. It reports',
        'per node: lost, duplicated, out of order, the outage its clients saw and the time to recover, and',
        'passes when every node recovers within 5 s of the fault\'s end and the losses are what the backplane',
        'promises (redis.backplane pubsub: at most once, losses during the outage reported; streams: none).',
        '',
        'Examples:',
        '  labctl verify',
        '  labctl verify --clients 5 --messages 200 --json',
        '  labctl verify --browser',
        '  labctl verify --fault redis-restart',
        '  labctl verify --fault web-kill --fault-target web2 --json',
        '  labctl verify --fault link-cut --fault-target web1 --fault-for 2',
        '  labctl verify --fault redis-failover',
      ].join('\n'),
    )
    .action(async (opts: VerifyCliOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (opts.browser) chromiumPath(); // a missing browser is a usage problem: say so before any work
      if (!opts.fault && opts.faultTarget !== undefined) throw new UsageError('--fault-target needs --fault redis-restart|web-kill|link-cut');
      if (!opts.fault && cmd.getOptionValueSource('faultFor') === 'cli') throw new UsageError('--fault-for needs --fault link-cut');
      if (opts.fault && opts.fault !== 'link-cut' && cmd.getOptionValueSource('faultFor') === 'cli') throw new UsageError(`--fault-for applies to --fault link-cut, not ${opts.fault}`);
      if (opts.fault && opts.browser) throw new UsageError('--fault and --browser cannot be combined: run verify --browser on its own');
      const lab = openLab(g, 'verify', { lock: false });
      try {
        if (opts.fault) prepareFaultOptions(lab, opts, cmd.getOptionValueSource('messages') !== 'cli');
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

/** --fault's target and run length checked (exit 2) before anything is measured; --messages defaulted to cover it. */
function prepareFaultOptions(lab: Lab, opts: VerifyCliOptions, messagesDefaulted: boolean): void {
  const req = faultRequest(opts)!;
  faultTarget(lab.spec, req);
  if (!lab.provider.faults) throw new UsageError(`verify --fault is not supported on the ${lab.provider.name} provider yet (the netns provider implements it)`);
  const rate = opts.rate ?? Math.max(1, Math.floor(lab.spec.app.rateLimit.perSecond * 0.8));
  if (messagesDefaulted) opts.messages = faultRunMessages(rate, req);
  else checkFaultRunLength(opts.messages, rate, req);
}

function faultRequest(opts: VerifyCliOptions): FaultRequest | undefined {
  return opts.fault ? { kind: opts.fault, target: opts.faultTarget, downMs: (opts.faultFor ?? 3) * 1000 } : undefined;
}

export async function runVerify(lab: Lab, reporter: Reporter, opts: VerifyCliOptions): Promise<VerifyReport> {
  if (!lab.store.exists()) throw new LabNotCreatedError(`lab ${lab.spec.name} is not created: run labctl up`);
  await refuseStopped(lab);
  reporter.phase(`verify ${lab.spec.name} (${lab.provider.name})`);
  return verifyLab(lab, lab.provider, { ...opts, fault: faultRequest(opts), onProgress: (t) => reporter.info(`  ${t}`) });
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
  if (r.fault) printFault(r.fault);
  const d = r.delivery;
  if (d && d.sent > 0 && !r.fault) {
    print('');
    print(`delivery: ${d.clients} clients sent ${d.sent} messages (${d.sendRatePerSec}/s); expected ${d.expected} receipts, received ${d.received}, lost ${d.lost}, duplicated ${d.duplicated}, out of order ${d.outOfOrder}`);
    const l = d.latencyMs;
    const x = d.crossNodeLatencyMs;
    print(`latency (ms, send → receipt): p50 ${l.p50}  p95 ${l.p95}  p99 ${l.p99}  max ${l.max};  cross-node only: p50 ${x.p50}  p99 ${x.p99}`);
  }
  print('');
  print(r.ok ? `all ${r.checks.length} checks passed` : `${r.checks.filter((c) => !c.ok).length} of ${r.checks.length} checks FAILED`);
}

function printFault(f: FaultReport): void {
  print('');
  if ('error' in f.fault) {
    print(`fault ${f.fault.kind} on ${f.fault.target}: ${f.fault.error}`);
    return;
  }
  print(`fault: ${f.fault.detail}; began ${((f.faultAtMs ?? 0) / 1000).toFixed(1)} s into the run, over after ${f.faultMs} ms`);
  print(`promise: ${f.promise}`);
  print(`sent: ${f.sent} messages${f.refused > 0 ? `, ${f.refused} of them refused or unanswered by their server (the sender was told; owed to no one: e.g. the rate limit after a burst)` : ''}`);
  const ms = (v: number | null) => (v === null ? 'never' : `${v} ms`);
  print(
    table(
      ['NODE', 'EXPECTED', 'RECEIVED', 'LOST', 'DUPLICATED', 'OUT OF ORDER', 'OUTAGE', 'RECOVERY', 'DISCONNECTED', 'RESULT'],
      f.perNode.map((n) => [
        n.node,
        String(n.expected),
        String(n.received),
        n.lost > 0 && n.lossAllowed ? `${n.lost} (allowed)` : String(n.lost),
        String(n.duplicated),
        String(n.outOfOrder),
        ms(n.outageMs),
        ms(n.recoveryMs),
        ms(n.disconnectedMs),
        n.problems.length === 0 ? 'pass' : `FAIL: ${n.problems.join(', ')}`,
      ]),
    ),
  );
}
