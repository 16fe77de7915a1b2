/**
 * labctl's PowerShell bridge against real PowerShell: the PowerShell sessions, the
 * one-line invocation, templates/hyperv/_invoke.ps1 decoding and splatting the parameters,
 * and the framed answer — the code path a Windows host runs, here with pwsh 7 and the
 * simulated host (the stand-in shell of test/unit/hyperv-powershell.test.ts only imitates it).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { PowerShellError } from '../../src/transports/powershell.js';
import { addReadyWindowsGuest } from './guest-helpers.js';
import { SimHost } from './host.js';
import { processesMentioning } from '../../src/providers/netns/host.js';

let host: SimHost;
before(() => {
  host = new SimHost();
});
after(async () => {
  await host?.dispose();
});

describe('the invocation wrapper under real PowerShell', () => {
  test('paths with quotes, spaces, $, backticks, semicolons and non-ASCII arrive as they are, and come back as they are', async () => {
    const names = [`it's "quoted"`, 'dollar $env:PATH $(whoami)', 'back`tick and ; semicolon', 'ünïcödé ✓ 日本', '  spaces  around'];
    for (const name of names) {
      const dir = `C:\\labctl\\odd\\${name}`;
      const made = await host.invoke<{ path: string; created: boolean }>('hyperv/new-dir.ps1', { Path: dir });
      assert.equal(made.path, dir, 'the script saw the path unchanged');
      assert.equal(made.created, true);
      const seen = await host.invoke<{ exists: boolean; folder: boolean }>('hyperv/get-path.ps1', { Path: dir });
      assert.deepEqual({ exists: seen.exists, folder: seen.folder }, { exists: true, folder: true }, name);
    }
    const onDisk = readdirSync(host.local('C:\\labctl\\odd')).sort();
    assert.deepEqual(onDisk, [...names].sort(), 'the folders exist under exactly those names');
  });

  test("a script's own error comes back as PowerShellError with its message and the line that threw", async () => {
    await assert.rejects(
      host.invoke('hyperv/remove-path.ps1', { Path: 'C:\\Windows\\System32', LabRoot: 'C:\\labctl\\vms\\lab' }),
      (err: unknown) => {
        assert.ok(err instanceof PowerShellError, String(err));
        assert.match(err.message, /refusing to remove C:\\Windows\\System32: it is not inside the lab's folder C:\\labctl\\vms\\lab/);
        assert.ok(err.details.some((d) => /remove-path\.ps1/.test(d) && /\d+/.test(d)), `position named: ${err.details.join(' | ')}`);
        return true;
      },
    );
    assert.ok(existsSync(host.local('C:\\labctl')), 'nothing was removed');
  });

  test('a parameter the script does not declare is refused by PowerShell itself, naming it', async () => {
    await assert.rejects(host.invoke('hyperv/get-path.ps1', { Path: 'C:\\x', Bogus: 1 }), /parameter name 'Bogus'/);
  });

  test('a missing mandatory parameter is refused, not prompted for (the session is non-interactive)', async () => {
    await assert.rejects(host.invoke('hyperv/new-dir.ps1', {}, 30_000), /Path/);
  });

  test('the same session answers call after call (no process per call)', async () => {
    const started = Date.now();
    for (let i = 0; i < 10; i++) await host.invoke('hyperv/get-path.ps1', { Path: `C:\\labctl\\n${i}` });
    const perCall = (Date.now() - started) / 10;
    // a new pwsh costs about a second; a call on a live session a few milliseconds
    assert.ok(perCall < 500, `${perCall.toFixed(0)} ms per call`);
  });

  test('a call that runs out of time takes its PowerShell with it, and the next call gets a new one', async () => {
    addReadyWindowsGuest(host, 'slow', 'Passw0rd!slow');
    // the PowerShell engine itself (pwsh.dll), whoever started it
    const sessions = () => processesMentioning(host.dir).filter((p) => /pwsh\.dll/.test(p.cmd)).map((p) => p.pid);
    const before = sessions();
    assert.ok(before.length >= 1, 'the earlier calls left a session to reuse');
    await assert.rejects(
      host.invoke('hyperv/guest-exec.ps1', { VMName: 'slow', UserName: 'Administrator', Password: 'Passw0rd!slow', Command: 'Start-Sleep -Seconds 60' }, 3000),
      /did not answer within 3 s/,
    );
    // the session that ran out of time is dropped: its PowerShell must end, not live on
    // orphaned (the .NET tool's launcher does not pass signals on) still sleeping in the call
    const deadline = Date.now() + 5000;
    let after = sessions();
    while (after.length >= before.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      after = sessions();
    }
    assert.equal(after.length, before.length - 1, `PowerShell processes of this host before ${before}, after ${after}`);
    const r = await host.invoke<{ exists: boolean }>('hyperv/get-path.ps1', { Path: 'C:\\x' });
    assert.equal(r.exists, false, 'the next call is answered');
  });
});
