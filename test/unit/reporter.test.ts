/**
 * Progress output follows the terminal conventions users expect (clig.dev): spinner and
 * escape codes only on a terminal that can show them; none with NO_COLOR, CI, TERM=dumb, or
 * a terminal that reports 0 columns (where a spinner would redraw forever).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { fancyTerminal, Reporter } from '../../src/cli/reporter.js';
import type { Step } from '../../src/engine/step.js';

/** A stream that says it is a terminal of `columns` columns and keeps what it is given. */
function fakeTerminal(columns: number): NodeJS.WriteStream & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as unknown as NodeJS.WriteStream & { text: () => string };
  Object.assign(w, { isTTY: true, columns, rows: 24, cursorTo: () => true, moveCursor: () => true, clearLine: () => true, text: () => chunks.join('') });
  return w;
}

const step: Step = { id: 's', title: 'compile Redis', apply: async () => {} };

function drive(r: Reporter): void {
  r.phase('deploy lab');
  r.step({ type: 'start', step });
  r.step({ type: 'progress', step, text: '40%' });
  r.step({ type: 'done', step, ms: 1234 });
  r.summary();
}

describe('progress output and the terminal', () => {
  test('who gets a spinner and escape codes', () => {
    const tty = { isTTY: true, columns: 120 };
    assert.equal(fancyTerminal(tty, {}), true);
    assert.equal(fancyTerminal({ isTTY: false, columns: 120 }, {}), false, 'a pipe or a file');
    assert.equal(fancyTerminal({ isTTY: true, columns: 0 }, {}), false, 'a terminal of 0 columns');
    assert.equal(fancyTerminal(tty, { TERM: 'dumb' }), false);
    assert.equal(fancyTerminal(tty, { NO_COLOR: '1' }), false);
    assert.equal(fancyTerminal(tty, { NO_COLOR: '' }), true, 'NO_COLOR counts only when it has a value');
    assert.equal(fancyTerminal(tty, { CI: 'true' }), false);
    assert.equal(fancyTerminal(tty, { CI: 'false' }), true);
  });

  for (const [what, columns, env] of [
    ['NO_COLOR', 80, { NO_COLOR: '1' }],
    ['TERM=dumb', 80, { TERM: 'dumb' }],
    ['CI', 80, { CI: 'true' }],
    ['0 columns', 0, {}],
  ] as const) {
    test(`${what}: plain lines, no escape code, and the run finishes`, () => {
      const saved = { ...process.env };
      Object.assign(process.env, env);
      try {
        const out = fakeTerminal(columns);
        const r = new Reporter({ stream: out });
        drive(r);
        assert.doesNotMatch(out.text(), /\x1b/, JSON.stringify(out.text()));
        assert.match(out.text(), /✓ compile Redis \(1\.2 s\)/);
      } finally {
        for (const k of Object.keys(env)) delete process.env[k];
        Object.assign(process.env, saved);
      }
    });
  }

  test('a real terminal does get the spinner (so the tests above can fail)', () => {
    const saved = { NO_COLOR: process.env.NO_COLOR, CI: process.env.CI, TERM: process.env.TERM };
    delete process.env.NO_COLOR;
    delete process.env.CI;
    process.env.TERM = 'xterm-256color';
    try {
      const out = fakeTerminal(100);
      const r = new Reporter({ stream: out });
      assert.equal(r.tty, true);
      drive(r);
      assert.match(out.text(), /\x1b/);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  });
});
