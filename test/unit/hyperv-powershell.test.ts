/**
 * The PowerShell runner: how a call is encoded (only base64 varies on the line), how the
 * answer is found among other output, how errors come back, and the PowerShell session
 * itself, driven against a stand-in for powershell.exe (hyperv-fake-pwsh.mjs) because this
 * machine has no PowerShell.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import {
  FramedRunner,
  PowerShellError,
  decodeInvocation,
  encodeInvocation,
  frameAnswer,
  powerShellRunner,
  parseFramed,
  scriptFile,
  WRAPPER,
  type LineChannel,
} from '../../src/transports/powershell.js';
import { OperationError } from '../../src/util/errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'labctl-ps-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const awkward = {
  Path: `C:\\Users\\O'Brien\\My "Labs"\\$env:TEMP\\\`whoami\`\\; Remove-Item C:\\ -Recurse #`,
  Name: "x'); Stop-Computer; ('",
  Unicode: 'Ünïcødé – 日本 🙂',
  Multi: 'line one\r\nline two\n',
  Dollar: '$($host.SetShouldExit(1))',
  Number: 21474836480,
  Flag: true,
  List: ['a b', "c'd", '$e'],
  Nested: { Key: 'va"lue' },
};

describe('invocation line', () => {
  test('every value survives the trip, and the line holds nothing but base64 in its variable parts', () => {
    const request = { id: '0123456789abcdef', script: 'C:\\Program Files\\labctl\\templates\\hyperv\\new-vm.ps1', params: awkward };
    const line = encodeInvocation("C:\\it's\\_invoke.ps1", request);
    assert.match(line, /^& \(\[System\.Text\.Encoding\]::UTF8\.GetString\(\[System\.Convert\]::FromBase64String\('[A-Za-z0-9+/=]+'\)\)\) -Request '[A-Za-z0-9+/=]+'$/);
    assert.ok(!/[\r\n"`$;]/.test(line.replace(/^& \(\[System.Text.Encoding\]::UTF8/, '')), 'no quote, newline, backtick, $ or ; outside base64');
    const back = decodeInvocation(line);
    assert.equal(back.wrapperPath, "C:\\it's\\_invoke.ps1");
    assert.deepEqual(back.request, request);
  });

  test('parameter names are checked before anything is sent', () => {
    assert.throws(() => encodeInvocation('w', { id: '1', script: 's', params: { 'Bad-Name': 1 } }), /not a PowerShell parameter name/);
    assert.throws(() => encodeInvocation('w', { id: '1', script: 's', params: { 'x; rm': 1 } }), /not a PowerShell parameter name/);
  });

  test('undefined parameters are left out (so the script default applies)', () => {
    const line = encodeInvocation('w', { id: '1', script: 's', params: { A: 1, B: undefined } });
    assert.deepEqual(decodeInvocation(line).request.params, { A: 1 });
  });

  test('scripts outside templates/ are refused', () => {
    assert.throws(() => scriptFile('../package.json'), /outside templates/);
    assert.match(scriptFile('hyperv/new-vm.ps1'), /templates[\\/]hyperv[\\/]new-vm\.ps1$/);
  });
});

describe('framed answers', () => {
  const answer = { id: 'feedbeef', ok: true, result: { a: 'b<<labctl:feedbeef:end>>' }, logs: [], error: null };

  test('found among warnings and progress text, even when the result contains a marker', () => {
    const out = `WARNING: x\r\nProgress 50%\r\n${frameAnswer(answer)}\r\nPS C:\\> `;
    assert.deepEqual(parseFramed(out, 'feedbeef'), answer);
  });

  test("another call's answer or none at all is not taken", () => {
    assert.equal(parseFramed(frameAnswer({ ...answer, id: 'other' }), 'feedbeef'), undefined);
    assert.equal(parseFramed('<<labctl:feedbeef:begin>>abc', 'feedbeef'), undefined);
  });
});

function channel(reply: (line: string) => { stdout: string; stderr: string } | Promise<never>): LineChannel & { resets: number } {
  const c = {
    resets: 0,
    send: async (line: string) => reply(line),
    reset: async () => {
      c.resets++;
    },
  };
  return c;
}

describe('FramedRunner', () => {
  test('returns the result and passes log lines on', async () => {
    const logs: string[] = [];
    const runner = new FramedRunner(
      channel((line) => {
        const { request } = decodeInvocation(line);
        return { stdout: frameAnswer({ id: request.id, ok: true, result: { got: request.params }, logs: ['warning: careful'], error: null }), stderr: '' };
      }),
    );
    const r = await runner.invoke<{ got: unknown }>('hyperv/get-vm.ps1', awkward, { onLog: (l) => logs.push(l) });
    assert.deepEqual(r.got, awkward);
    assert.deepEqual(logs, ['warning: careful']);
  });

  test("a script's error comes back as PowerShellError with its message and position", async () => {
    const runner = new FramedRunner(
      channel((line) => {
        const { request } = decodeInvocation(line);
        return {
          stdout: frameAnswer({ id: request.id, ok: false, result: null, logs: ['warning: w'], error: { message: 'VM is locked', position: 'At C:\\x\\new-vm.ps1:12 char:3\r\n+ New-VM ...' } }),
          stderr: '',
        };
      }),
    );
    await assert.rejects(runner.invoke('hyperv/new-vm.ps1', {}), (err: unknown) => {
      assert.ok(err instanceof PowerShellError);
      assert.equal(err.message, 'hyperv/new-vm.ps1: VM is locked');
      assert.deepEqual(err.details, ['At C:\\x\\new-vm.ps1:12 char:3', '+ New-VM ...', 'warning: w']);
      return true;
    });
  });

  test('no answer: an error quoting what PowerShell printed, and the session is dropped', async () => {
    const c = channel(() => ({ stdout: 'The term "x" is not recognized', stderr: 'ParserError' }));
    await assert.rejects(new FramedRunner(c).invoke('hyperv/get-vm.ps1', {}), (err: unknown) => {
      assert.ok(err instanceof OperationError);
      assert.match(err.message, /PowerShell gave no answer/);
      assert.deepEqual(err.details, ['ParserError']);
      return true;
    });
    assert.equal(c.resets, 1);
  });

  test('a channel failure (timeout) drops the session', async () => {
    const c = channel(() => Promise.reject(new OperationError('PowerShell did not answer within 5 s')));
    await assert.rejects(new FramedRunner(c).invoke('hyperv/get-vm.ps1', {}, { timeoutMs: 5000 }), /did not answer within 5 s/);
    assert.equal(c.resets, 1);
  });
});

describe('the PowerShell session (against a stand-in for powershell.exe)', () => {
  const fake = path.join(tmp, 'fake-powershell.mjs');
  copyFileSync(path.join(here, 'hyperv-fake-pwsh.mjs'), fake);
  chmodSync(fake, 0o755);

  test('one long-lived process answers several calls, values intact', async () => {
    const runner = powerShellRunner(fake);
    try {
      const a = await runner.invoke<{ params: unknown; pid: number; wrapper: string; script: string }>('hyperv/get-vm.ps1', awkward);
      const b = await runner.invoke<{ params: unknown; pid: number }>('hyperv/start-vm.ps1', { VMName: 'x' });
      assert.deepEqual(a.params, awkward);
      assert.equal(a.wrapper, scriptFile(WRAPPER));
      assert.equal(a.script, scriptFile('hyperv/get-vm.ps1'));
      assert.equal(a.pid, b.pid, 'a new process per call');
      await assert.rejects(runner.invoke('hyperv/get-vm.ps1', { Fail: 'boom' }), /hyperv\/get-vm\.ps1: boom/);
      const c = await runner.invoke<{ pid: number }>('hyperv/get-vm.ps1', {});
      assert.equal(c.pid, a.pid, 'a script error must not cost the session');
    } finally {
      await runner.dispose();
    }
  });

  test('a call is answered when its end arrives in one read with bytes after it (PowerShell 7 writes ESC[?1h ESC[?1l as it reads each line)', async () => {
    const vtFake = path.join(tmp, 'fake-powershell-vt.sh');
    writeFileSync(vtFake, `#!/bin/sh\nFAKE_PWSH_VT=1 exec ${JSON.stringify(process.execPath)} ${JSON.stringify(fake)} "$@"\n`);
    chmodSync(vtFake, 0o755);
    const runner = powerShellRunner(vtFake, 1);
    try {
      for (let i = 0; i < 30; i++) {
        const r = await runner.invoke<{ params: { I: number } }>('hyperv/get-vm.ps1', { I: i }, { timeoutMs: 5000 });
        assert.equal(r.params.I, i);
      }
    } finally {
      await runner.dispose();
    }
  });

  test('a call that hangs times out, and the next call gets a new session', async () => {
    const runner = powerShellRunner(fake);
    try {
      const a = await runner.invoke<{ pid: number }>('hyperv/get-vm.ps1', {});
      await assert.rejects(runner.invoke('hyperv/get-vm.ps1', { Hang: true }, { timeoutMs: 400 }), /did not answer within/);
      const b = await runner.invoke<{ pid: number }>('hyperv/get-vm.ps1', {});
      assert.notEqual(a.pid, b.pid);
    } finally {
      await runner.dispose();
    }
  });

  test('a long call does not hold up others: they get their own session, and their timeouts start when they start', async () => {
    const runner = powerShellRunner(fake, 2);
    try {
      const stuck = runner.invoke('hyperv/build-windows-base.ps1', { Hang: true }, { timeoutMs: 3000 });
      const started = Date.now();
      const quick = await runner.invoke<{ pid: number }>('hyperv/get-vm.ps1', {}, { timeoutMs: 2000 });
      assert.ok(Date.now() - started < 2000, 'the quick call waited behind the stuck one');
      await assert.rejects(stuck, /did not answer within 3 s/);
      assert.doesNotThrow(() => process.kill(quick.pid, 0), 'the healthy session was killed');
      const after = await runner.invoke<{ pid: number }>('hyperv/get-vm.ps1', {});
      assert.equal(after.pid, quick.pid, 'the healthy session is used again');
    } finally {
      await runner.dispose();
    }
  });

  test('an idle session does not keep labctl from exiting', async () => {
    const program = [
      `import { powerShellRunner } from ${JSON.stringify(path.resolve(here, '../../src/transports/powershell.ts'))};`,
      `const r = powerShellRunner(${JSON.stringify(fake)});`,
      `const out = await r.invoke('hyperv/get-vm.ps1', { Name: 'x' });`,
      `console.log(JSON.stringify(out.params));`,
      // no dispose: the process must still end
    ].join('\n');
    const file = path.join(tmp, 'idle.mts');
    (await import('node:fs')).writeFileSync(file, program);
    const started = Date.now();
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', file], { timeout: 20_000, cwd: path.resolve(here, '../..') }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
      );
    });
    assert.equal(stdout.trim(), '{"Name":"x"}');
    assert.ok(Date.now() - started < 15_000);
  });
});
