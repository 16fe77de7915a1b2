/**
 * Interrupted runs (issue 11, part 1), the parts that need no root: the engine stops at once
 * and names what was under way, journals nothing as done that the interruption cut short, and
 * waits for what the steps had started to be stopped; a host command's whole process group is
 * stopped; a stuck PowerShell call ends; SSH's process-group line is taken out of stderr; the
 * CLI's handler says how to resume, exits within its deadline, and a second signal exits at
 * once. The real thing (signals to labctl during create, deploy and up on netns, with
 * resume and teardown after each) is test/netns/interrupt.test.ts.
 */
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, describe, test } from 'node:test';
import { runSteps, type RunEvent } from '../../src/engine/runner.js';
import { removeResources } from '../../src/engine/teardown.js';
import type { Step } from '../../src/engine/step.js';
import { LabStore } from '../../src/state/store.js';
import { Interruption, InterruptedError, processInterruption, resetProcessInterruption } from '../../src/util/cancel.js';
import { LocalTransport } from '../../src/transports/local.js';
import { PgidMarker } from '../../src/transports/ssh.js';
import { powerShellRunner } from '../../src/transports/powershell.js';
import { commandOfArgs, guardInterrupts, interruptedError, FORCED_EXIT_MS } from '../../src/cli/interrupt.js';
import { isRunning } from '../helpers/leftovers.js';
import { waitFor } from '../helpers/wait.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(path.join(os.tmpdir(), 'labctl-interrupt-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
// every test leaves the process-wide interruption fresh for the next file's commands
afterEach(() => void resetProcessInterruption());

let homes = 0;
function openStore(): LabStore {
  const store = new LabStore(path.join(root, `home${++homes}`), 'lab');
  store.open('test');
  store.init('fake', { file: '/dev/null', hash: 'x' });
  return store;
}

describe('the engine, interrupted', () => {
  test('stops at once, names the steps under way, journals none of them as done and starts nothing new', async () => {
    const store = openStore();
    const interruption = new Interruption();
    const events: RunEvent[] = [];
    const stopped: string[] = [];
    const applied: string[] = [];
    // a step whose "remote command" only ends when its stop is called, like make over SSH
    const longStep = (id: string, deps: string[] = []): Step => ({
      id,
      title: `step ${id}`,
      deps,
      apply: async (ctx) => {
        ctx.record({ kind: 'thing', id });
        applied.push(id);
        await new Promise<void>((resolve) => {
          interruption.onInterrupt(async () => {
            stopped.push(id);
            resolve();
          });
        });
        // returns normally, as a step whose command was killed may: it must not count as done
      },
    });
    const steps: Step[] = [
      { id: 'a', title: 'step a', apply: async () => {} },
      longStep('b', ['a']),
      longStep('c', ['a']),
      { id: 'd', title: 'step d', deps: ['b'], apply: async () => void applied.push('d') },
    ];
    const run = runSteps(steps, { store, interruption, onEvent: (e) => events.push(e) });
    await waitFor('b and c running', () => applied.includes('b') && applied.includes('c'));
    const t0 = performance.now();
    const eventsBefore = events.length;
    await interruption.interrupt('SIGINT');
    const err = await run.then(
      () => assert.fail('runSteps should throw'),
      (e: unknown) => e,
    );
    assert.ok(performance.now() - t0 < 500, 'the run ended right after the stops');
    assert.ok(err instanceof InterruptedError, String(err));
    assert.equal(err.signal, 'SIGINT');
    assert.equal(err.exitCode, 130);
    assert.equal(err.code, 'INTERRUPTED');
    assert.deepEqual([...err.work].sort(), ['step b', 'step c']);
    assert.deepEqual(stopped.sort(), ['b', 'c'], 'what the running steps started was stopped');
    assert.ok(!applied.includes('d'), 'nothing new started after the interruption');
    const journal = new LabStore(store.home, 'lab').peek()!;
    assert.deepEqual(Object.keys(journal.steps), ['a'], 'only the step that finished before is journaled as done');
    assert.deepEqual(journal.resources.map((r) => r.id).sort(), ['b', 'c'], 'what the interrupted steps made is journaled');
    assert.equal(events.length, eventsBefore, 'nothing is reported after the interruption (no kill shown as a failure)');
    store.close();
  });

  test('an interruption before the run: nothing starts', async () => {
    const store = openStore();
    const interruption = new Interruption();
    await interruption.interrupt('SIGTERM');
    let ran = false;
    await assert.rejects(
      runSteps([{ id: 'a', title: 'a', apply: async () => void (ran = true) }], { store, interruption }),
      (e: unknown) => e instanceof InterruptedError && e.exitCode === 143,
    );
    assert.equal(ran, false);
    store.close();
  });

  test('a step that fails because its command was killed is not reported as a failure', async () => {
    const store = openStore();
    const interruption = new Interruption();
    const events: RunEvent[] = [];
    const run = runSteps(
      [
        {
          id: 'k',
          title: 'killed',
          apply: () =>
            new Promise<void>((_, reject) => {
              interruption.onInterrupt(() => reject(new Error('exited with 143')));
            }),
        },
      ],
      { store, interruption, onEvent: (e) => events.push(e) },
    );
    await waitFor('started', () => events.some((e) => e.type === 'start'));
    await interruption.interrupt('SIGINT');
    await assert.rejects(run, (e: unknown) => e instanceof InterruptedError && e.work.join() === 'killed');
    assert.ok(!events.some((e) => e.type === 'fail'), 'no failure shown');
    store.close();
  });

  test('the stops get a budget: a stop that hangs does not hold the run', async () => {
    const store = openStore();
    const interruption = new Interruption();
    let started = false;
    const run = runSteps(
      [
        {
          id: 'h',
          title: 'hangs',
          apply: () => {
            started = true;
            interruption.onInterrupt(() => new Promise(() => {}));
            return new Promise(() => {});
          },
        },
      ],
      { store, interruption },
    );
    await waitFor('started', () => started);
    const t0 = performance.now();
    void interruption.interrupt('SIGINT', 200);
    await assert.rejects(run, InterruptedError);
    const ms = performance.now() - t0;
    assert.ok(ms >= 150 && ms < 1000, `ended after the 200 ms budget (${Math.round(ms)} ms)`);
    store.close();
  });

  test('teardown stops between two removals; the journal keeps the rest', async () => {
    const store = openStore();
    for (const id of ['1', '2', '3']) store.addResource({ kind: 'thing', id });
    const removed: string[] = [];
    const interruption = resetProcessInterruption();
    await assert.rejects(
      removeResources(store, {
        order: ['thing'],
        removers: {
          thing: async (r) => {
            removed.push(r.id);
            void interruption.interrupt('SIGINT');
          },
        },
      }),
      InterruptedError,
    );
    assert.deepEqual(removed, ['3'], 'newest first, then it stopped');
    assert.deepEqual(store.resources().map((r) => r.id), ['1', '2']);
    store.close();
  });
});

describe('what labctl starts is stopped', () => {
  test('a command on the host: its whole process group (a child of the shell too), at once', async () => {
    const marker = path.join(root, `pids-${process.pid}`);
    const t = new LocalTransport();
    const run = t.exec(`sleep 60 & echo $! > ${marker}; sleep 61; echo never`);
    const child = Number(await waitFor('the background sleep', () => {
      try {
        return readFileSync(marker, 'utf8').trim() || undefined;
      } catch {
        return undefined;
      }
    }));
    assert.ok(isRunning(child));
    const t0 = performance.now();
    await processInterruption.interrupt('SIGINT');
    const r = await run;
    assert.ok(performance.now() - t0 < 1500, 'stopped within the budget');
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stdout, /never/);
    await waitFor('the shell\'s child to be gone too', () => !isRunning(child), { timeoutMs: 2000 });
    // and nothing new starts
    await assert.rejects(t.exec('true'), InterruptedError);
  });

  test('a timed-out host command: its group too', async () => {
    const marker = path.join(root, `pids-timeout-${process.pid}`);
    const r = await new LocalTransport().exec(`sleep 60 & echo $! > ${marker}; wait`, { timeoutMs: 300 });
    assert.notEqual(r.code, 0);
    const child = Number(readFileSync(marker, 'utf8').trim());
    await waitFor('the background sleep to be gone', () => !isRunning(child), { timeoutMs: 2000 });
  });

  test('a PowerShell call that never returns: its PowerShell is ended and the call fails at once', async () => {
    const fake = path.join(root, 'powershell-fake.mjs');
    copyFileSync(path.join(here, 'hyperv-fake-pwsh.mjs'), fake);
    chmodSync(fake, 0o755);
    const runner = powerShellRunner(fake);
    try {
      await runner.invoke('hyperv/get-vm.ps1', { Name: 'warm-up' });
      const call = runner.invoke('hyperv/get-vm.ps1', { Name: 'x', Hang: true });
      call.catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
      const t0 = performance.now();
      await processInterruption.interrupt('SIGINT');
      await assert.rejects(call, /interrupted/);
      assert.ok(performance.now() - t0 < 1000);
    } finally {
      await runner.dispose();
    }
  });
});

describe("SSH: the command's process-group line", () => {
  const run = (chunks: string[]) => {
    const out: string[] = [];
    const m = new PgidMarker((c) => out.push(c.toString('latin1')));
    for (const c of chunks) m.write(Buffer.from(c, 'latin1'));
    const pgid = m.pgid(0);
    m.end();
    return { out: out.join(''), pgid };
  };

  test('is taken out of stderr, the rest passes unchanged', async () => {
    const r = run(['\x01labctl-pgid 4242\nwarning: x\n', 'more\n']);
    assert.equal(r.out, 'warning: x\nmore\n');
    assert.equal(await r.pgid, 4242);
  });

  test('split across chunks, and after what sshd wrote before the shell ran', async () => {
    const r = run(['Could not chdir to home directory /nope\n\x01lab', 'ctl-pgid 77', '\nerr']);
    assert.equal(r.out, 'Could not chdir to home directory /nope\nerr');
    assert.equal(await r.pgid, 77);
  });

  test('absent: stderr passes through, no group is known', async () => {
    const r = run(['plain error\n']);
    assert.equal(r.out, 'plain error\n');
    assert.equal(await r.pgid, undefined);
  });

  test('a later line that looks like it is left alone', async () => {
    const r = run(['\x01labctl-pgid 5\n', '\x01labctl-pgid 6\n']);
    assert.equal(r.out, '\x01labctl-pgid 6\n');
    assert.equal(await r.pgid, 5);
  });
});

/** Removes the signal listeners a test added (and only those). */
function keepSignalListeners(): () => void {
  const before = new Map((['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, process.listeners(s)]));
  return () => {
    for (const [s, kept] of before) for (const l of process.listeners(s)) if (!kept.includes(l)) process.off(s, l);
  };
}

describe('the CLI handler', () => {
  test('finds the command among the global options', () => {
    assert.equal(commandOfArgs(['--spec', 'a.yaml', '--home', '/h', 'up', '--json']), 'up');
    assert.equal(commandOfArgs(['--json', 'create']), 'create');
    assert.equal(commandOfArgs(['--spec=x.yaml', 'deploy', 'web1']), 'deploy');
    assert.equal(commandOfArgs(['--version']), undefined);
  });

  test('says what was stopped, how to resume (the same command line) and how to remove the lab', () => {
    const e = interruptedError('SIGINT', 'up', ['--spec', 'my lab.yaml', 'up', '--browser'], ['redis: build Redis']);
    assert.equal(e.message, 'up interrupted by SIGINT: stopped what was under way (redis: build Redis)');
    assert.deepEqual(e.details, [
      "everything made so far is in the lab's journal",
      "to resume: labctl --spec 'my lab.yaml' up --browser",
      "to remove it instead: labctl --spec 'my lab.yaml' teardown",
    ]);
    const t = interruptedError('SIGTERM', 'teardown', ['teardown', '--yes'], []);
    assert.match(t.message, /^teardown interrupted by SIGTERM: nothing was under way$/);
    assert.ok(t.details.includes('to finish: labctl teardown --yes'));
    assert.equal(t.exitCode, 143);
  });

  test('other commands keep the default handling', () => {
    const before = process.listenerCount('SIGINT');
    const g = guardInterrupts(['node', 'labctl', 'watch']);
    assert.equal(process.listenerCount('SIGINT'), before);
    g.finish();
  });

  test('first signal: a notice, the stops run, the command unwinds; a command that does not unwind is ended by the deadline with the message', async () => {
    const written: string[] = [];
    const exits: number[] = [];
    const restore = keepSignalListeners();
    const g = guardInterrupts(['node', 'labctl', '--home', '/h', 'create'], { write: (t) => written.push(t), exit: (c) => exits.push(c), json: false });
    try {
      let stoppedAt = 0;
      processInterruption.onInterrupt(() => void (stoppedAt = performance.now()));
      const t0 = performance.now();
      process.emit('SIGINT', 'SIGINT');
      await waitFor('the stops', () => stoppedAt > 0);
      assert.ok(stoppedAt - t0 < 100);
      assert.match(written.join(''), /SIGINT: stopping create \(press Ctrl-C again to exit at once\)/);
      // an error of the interrupted command becomes the interruption's, with the advice
      const shown = g.explain(new Error('connection closed')) as InterruptedError;
      assert.ok(shown instanceof InterruptedError);
      assert.match(shown.details.join('\n'), /to resume: labctl --home \/h create/);
      // the command did not return: the deadline ends it, saying so
      await waitFor('the forced exit', () => exits.length > 0, { timeoutMs: FORCED_EXIT_MS + 1000 });
      assert.deepEqual(exits, [130]);
      assert.match(written.join(''), /labctl: create interrupted by SIGINT/);
    } finally {
      g.finish();
      restore();
    }
  });

  test('a second signal exits at once', async () => {
    const exits: number[] = [];
    const written: string[] = [];
    const restore = keepSignalListeners();
    const g = guardInterrupts(['node', 'labctl', 'up'], { write: (t) => written.push(t), exit: (c) => exits.push(c), json: false });
    try {
      process.emit('SIGTERM', 'SIGTERM');
      process.emit('SIGINT', 'SIGINT');
      assert.deepEqual(exits, [143], 'the code of the first signal, at once');
      assert.match(written.join(''), /SIGINT again: exiting now/);
    } finally {
      g.finish();
      restore();
    }
  });
});
