/**
 * The step engine with fake steps on a real journal: dependency order and parallelism, a
 * failing step stops the run, a re-run resumes after the steps that finished, finished steps
 * are skipped, plan says what is done and what is to do, teardown removes what was recorded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { planSteps, runSteps, StepFailedError, type RunEvent } from '../../src/engine/runner.js';
import { stepsOfMachines, topoSort } from '../../src/engine/order.js';
import { removeResources } from '../../src/engine/teardown.js';
import type { Step } from '../../src/engine/step.js';
import { LabStore } from '../../src/state/store.js';
import { sleep } from '../helpers/wait.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'labctl-engine-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

let labs = 0;
/** A store with the lab's lock taken and a journal started, in a fresh home. */
function openStore(): LabStore {
  const store = new LabStore(path.join(root, `home${++labs}`), 'lab');
  store.open('test');
  store.init('fake', { file: '/dev/null', hash: 'x' });
  return store;
}

/** Re-reads the journal from disk, as the next labctl process would. */
function journalOnDisk(store: LabStore): string[] {
  return Object.keys(new LabStore(store.home, 'lab').peek()!.steps).sort();
}

interface Trace {
  applied: string[];
  started: Map<string, number>;
  ended: Map<string, number>;
  maxRunning: number;
}

/** Fake steps that record when they run; `fail` decides per call whether apply throws. */
function fakeSteps(
  specs: { id: string; deps?: string[]; ms?: number; fail?: () => boolean; check?: () => boolean; notApplicable?: string; exclusive?: string }[],
  trace: Trace,
): Step[] {
  let running = 0;
  return specs.map((s) => ({
    id: s.id,
    title: `step ${s.id}`,
    deps: s.deps,
    exclusive: s.exclusive,
    notApplicable: s.notApplicable,
    ...(s.check ? { check: async () => s.check!() } : {}),
    apply: async (ctx) => {
      trace.started.set(s.id, performance.now());
      running++;
      trace.maxRunning = Math.max(trace.maxRunning, running);
      try {
        ctx.record({ kind: 'thing', id: s.id });
        await sleep(s.ms ?? 1);
        if (s.fail?.()) throw new Error(`${s.id} broke`);
        trace.applied.push(s.id);
        return { by: s.id };
      } finally {
        running--;
        trace.ended.set(s.id, performance.now());
      }
    },
  }));
}

function newTrace(): Trace {
  return { applied: [], started: new Map(), ended: new Map(), maxRunning: 0 };
}

describe('runSteps', () => {
  test('a failing step stops the run; a re-run resumes after the steps that finished; then nothing is left to do', async () => {
    const store = openStore();
    let cBroken = true;
    const specs = [
      { id: 'a' },
      { id: 'b', deps: ['a'] },
      { id: 'c', deps: ['b'], fail: () => cBroken },
      { id: 'd', deps: ['c'] },
      { id: 'e', deps: ['d'] },
    ];
    const t1 = newTrace();
    const events: RunEvent[] = [];
    await assert.rejects(
      runSteps(fakeSteps(specs, t1), { store, onEvent: (e) => events.push(e) }),
      (err: unknown) => {
        assert.ok(err instanceof StepFailedError);
        assert.equal(err.step.id, 'c');
        assert.equal(err.exitCode, 1);
        assert.equal(err.message, 'step "step c" failed: c broke');
        return true;
      },
    );
    assert.deepEqual(t1.applied, ['a', 'b']);
    assert.equal(t1.started.has('d'), false, 'nothing after the failed step started');
    assert.deepEqual(journalOnDisk(store), ['a', 'b'], 'the journal on disk holds the finished steps, not the failed one');
    assert.deepEqual(
      events.filter((e) => e.type === 'fail').map((e) => e.step.id),
      ['c'],
    );

    cBroken = false;
    const t2 = newTrace();
    const r2 = await runSteps(fakeSteps(specs, t2), { store });
    assert.deepEqual(t2.applied, ['c', 'd', 'e'], 'the re-run applied only what was left');
    assert.deepEqual(r2.skipped.sort(), ['a', 'b']);
    assert.deepEqual(journalOnDisk(store), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(store.state!.steps.c!.info, { by: 'c' }, 'what apply returned is journaled');

    const t3 = newTrace();
    const r3 = await runSteps(fakeSteps(specs, t3), { store });
    assert.deepEqual(t3.applied, [], 'a run after success changes nothing');
    assert.deepEqual(r3.applied, []);
    assert.deepEqual(r3.skipped.sort(), ['a', 'b', 'c', 'd', 'e']);
    store.close();
  });

  test('steps already running when another fails finish and are journaled; no new step starts', async () => {
    const store = openStore();
    const t = newTrace();
    const specs = [
      { id: 'slow', ms: 150 },
      { id: 'fails', ms: 10, fail: () => true },
      { id: 'after-slow', deps: ['slow'] },
      { id: 'independent-later', deps: ['fails-sibling'] },
      { id: 'fails-sibling', ms: 400 },
    ];
    await assert.rejects(runSteps(fakeSteps(specs, t), { store, concurrency: 2 }), StepFailedError);
    assert.deepEqual(t.applied, ['slow']);
    assert.equal(t.started.has('after-slow'), false);
    assert.equal(t.started.has('fails-sibling'), false, 'a step waiting for a free slot did not start after the failure');
    assert.deepEqual(journalOnDisk(store), ['slow']);
    store.close();
  });

  test('a step whose check says done is skipped, journaled, and never applied', async () => {
    const store = openStore();
    const t = newTrace();
    const events: RunEvent[] = [];
    const r = await runSteps(fakeSteps([{ id: 'there', check: () => true }, { id: 'missing', check: () => false }], t), {
      store,
      onEvent: (e) => events.push(e),
    });
    assert.deepEqual(t.applied, ['missing']);
    assert.deepEqual(r.skipped, ['there']);
    assert.deepEqual(journalOnDisk(store), ['missing', 'there']);
    const skip = events.find((e) => e.type === 'skip');
    assert.ok(skip && skip.type === 'skip' && skip.reason === 'already done');
    store.close();
  });

  test('a check overrides the journal: a step recorded as done whose check fails is applied again', async () => {
    const store = openStore();
    store.markStepDone('gone');
    const t = newTrace();
    await runSteps(fakeSteps([{ id: 'gone', check: () => false }], t), { store });
    assert.deepEqual(t.applied, ['gone']);
    store.close();
  });

  test('a step that does not apply on this provider is reported as such, never as done', async () => {
    const store = openStore();
    const t = newTrace();
    const r = await runSteps(fakeSteps([{ id: 'iis', notApplicable: 'no IIS on a Linux stand-in' }, { id: 'next', deps: ['iis'] }], t), { store });
    assert.deepEqual(r.notApplicable, ['iis']);
    assert.deepEqual(t.applied, ['next'], 'steps after it still run');
    assert.deepEqual(journalOnDisk(store), ['next']);
    store.close();
  });

  test('dependencies run first; independent steps run in parallel up to the limit', async () => {
    const store = openStore();
    const t = newTrace();
    const specs = [
      { id: 'base', ms: 30 },
      { id: 'w1', deps: ['base'], ms: 80 },
      { id: 'w2', deps: ['base'], ms: 80 },
      { id: 'w3', deps: ['base'], ms: 80 },
      { id: 'w4', deps: ['base'], ms: 80 },
      { id: 'top', deps: ['w1', 'w2', 'w3', 'w4'] },
    ];
    const began = performance.now();
    await runSteps(fakeSteps(specs, t), { store, concurrency: 2 });
    const took = performance.now() - began;
    for (const s of specs) {
      for (const d of s.deps ?? []) assert.ok(t.started.get(s.id)! >= t.ended.get(d)!, `${s.id} started after ${d} ended`);
    }
    assert.equal(t.maxRunning, 2, 'at most 2 at a time, and 2 did run together');
    assert.ok(took < 30 + 4 * 80, `four 80 ms steps two at a time: ${took.toFixed(0)} ms`);
    store.close();
  });

  test('steps naming the same exclusive key never overlap; the others still run in parallel', async () => {
    const store = openStore();
    const t = newTrace();
    const specs = [
      { id: 'web1:rewrite', ms: 60, exclusive: 'msi:web1' },
      { id: 'web1:node', ms: 60, exclusive: 'msi:web1' },
      { id: 'web1:webdeploy', ms: 60, exclusive: 'msi:web1' },
      { id: 'web2:rewrite', ms: 60, exclusive: 'msi:web2' },
      { id: 'web2:node', ms: 60, exclusive: 'msi:web2' },
    ];
    await runSteps(fakeSteps(specs, t), { store, concurrency: 6 });
    const overlap = (a: string, b: string) => t.started.get(a)! < t.ended.get(b)! && t.started.get(b)! < t.ended.get(a)!;
    for (const group of [['web1:rewrite', 'web1:node', 'web1:webdeploy'], ['web2:rewrite', 'web2:node']]) {
      for (const a of group) for (const b of group) if (a < b) assert.ok(!overlap(a, b), `${a} and ${b} ran at the same time`);
    }
    assert.ok(overlap('web1:rewrite', 'web2:rewrite') || overlap('web1:rewrite', 'web2:node') || overlap('web1:node', 'web2:rewrite'), 'the two guests still install in parallel');
    assert.equal(t.applied.length, 5);
    store.close();
  });
});

describe('step order', () => {
  const step = (id: string, deps: string[] = []): Step => ({ id, title: id, deps, apply: async () => {} });

  test('sorted so that each step follows its dependencies, stable otherwise', () => {
    const order = topoSort([step('c', ['b']), step('a'), step('b', ['a']), step('d')]).map((s) => s.id);
    assert.deepEqual(order, ['a', 'b', 'c', 'd']);
  });

  test('the steps of some machines only: dependencies on the machines left out are dropped, the rest kept', () => {
    const step = (id: string, machine?: string, deps?: string[]): Step => ({ id, title: id, machine, deps, apply: async () => {} });
    const all = [step('lab:key'), step('redis:build', 'redis'), step('redis:service', 'redis', ['redis:build']), step('web1:app', 'web1', ['lab:key']), step('web1:service', 'web1', ['web1:app', 'redis:service']), step('web2:service', 'web2', ['redis:service'])];
    const picked = stepsOfMachines(all, ['web1']);
    assert.deepEqual(picked.map((s) => [s.id, s.deps ?? []]), [['web1:app', []], ['web1:service', ['web1:app']]]);
    assert.deepEqual(topoSort(picked).map((s) => s.id), ['web1:app', 'web1:service'], 'runs without the left-out steps');
    assert.deepEqual(all[4]!.deps, ['web1:app', 'redis:service'], 'the original steps are not changed');
  });

  test('a cycle, an unknown dependency and a duplicate id are refused', () => {
    assert.throws(() => topoSort([step('a', ['b']), step('b', ['a'])]), /dependency cycle: a -> b -> a/);
    assert.throws(() => topoSort([step('a', ['zzz'])]), /step a depends on unknown step zzz/);
    assert.throws(() => topoSort([step('a'), step('a')]), /duplicate step id a/);
  });
});

describe('planSteps', () => {
  test('lists every step as done, to do (after what) or n/a, and applies nothing', async () => {
    const store = openStore();
    store.markStepDone('journaled');
    const t = newTrace();
    const steps = fakeSteps(
      [
        { id: 'journaled' },
        { id: 'checked', check: () => true },
        { id: 'todo', check: () => false },
        { id: 'after', deps: ['todo'] },
        { id: 'na', notApplicable: 'Windows only' },
      ],
      t,
    );
    steps.push({ id: 'broken-check', title: 'b', check: async () => Promise.reject(new Error('no route')), apply: async () => {} });
    const plan = await planSteps(steps, store);
    assert.deepEqual(
      plan.map((p) => [p.id, p.status, p.reason]),
      [
        ['journaled', 'done', 'done in an earlier run'],
        ['checked', 'done', 'already done'],
        ['todo', 'todo', 'to do'],
        ['after', 'todo', 'to do (after todo)'],
        ['na', 'n/a', 'Windows only'],
        ['broken-check', 'todo', 'to do (could not check: no route)'],
      ],
    );
    assert.deepEqual(t.applied, []);
    assert.deepEqual(journalOnDisk(store), ['journaled'], 'plan journals nothing');
    store.close();
  });
});

describe('removeResources', () => {
  test('removes what the journal lists, kind by kind and newest first; a failure does not stop the others', async () => {
    const store = openStore();
    for (const [kind, id] of [['dir', 'd1'], ['netns', 'n1'], ['veth', 'v1'], ['netns', 'n2'], ['dir', 'd2'], ['weird', 'w1']]) {
      store.addResource({ kind: kind!, id: id! });
    }
    const order: string[] = [];
    const remover = async (r: { kind: string; id: string }) => {
      order.push(`${r.kind}:${r.id}`);
      if (r.id === 'v1') throw new Error('device busy');
    };
    const result = await removeResources(store, { order: ['netns', 'veth', 'dir'], removers: { netns: remover, veth: remover, dir: remover } });
    assert.deepEqual(order, ['netns:n2', 'netns:n1', 'veth:v1', 'dir:d2', 'dir:d1']);
    assert.deepEqual(
      result.failed.map((f) => [f.resource.id, f.reason]),
      [
        ['v1', 'device busy'],
        ['w1', 'labctl does not know how to remove a weird'],
      ],
    );
    const left = new LabStore(store.home, 'lab').peek()!.resources.map((r) => r.id);
    assert.deepEqual(left.sort(), ['v1', 'w1'], 'the journal keeps exactly what could not be removed');

    // a second teardown picks up what is left
    const again = await removeResources(store, { order: ['veth'], removers: { veth: async () => {}, weird: async () => {} } });
    assert.deepEqual(again.removed.map((r) => r.id).sort(), ['v1', 'w1']);
    assert.deepEqual(store.resources(), []);
    store.close();
  });
});
