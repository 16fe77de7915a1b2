/**
 * PowerShell Direct into a simulated Windows guest, through real PowerShell 7: labctl's
 * probe-psdirect.ps1 (the "setup" wait of a Windows VM) through labctl's own runner, and the
 * remoting rules the guest scripts rely on (behaviours/guest-psdirect.ps1): a fresh runspace
 * per call with the guest's drive and environment, arguments by value, errors as Invoke-Command's
 * own, sessions that last until Remove-PSSession, Copy-Item -ToSession, a restart.
 *
 * The Windows VMs here are put into the state ready (as the host side's first boot leaves
 * them); guest-web-role.test.ts goes through the real boot once the host side provides it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hypervConfig } from '../../src/providers/hyperv/config.js';
import { call, runCall } from '../../src/providers/hyperv/scripts.js';
import { SimHost } from './host.js';
import { addReadyWindowsGuest, guestPath, guestState, hostScript, simLab, type SimLab } from './guest-helpers.js';

const PASSWORD = 'Gu3st-Passw0rd!x';
const CRED = `$cred = New-Object System.Management.Automation.PSCredential -ArgumentList 'Administrator', (ConvertTo-SecureString -String '${PASSWORD}' -AsPlainText -Force)`;

let host: SimHost;
let l: SimLab;
before(() => {
  host = new SimHost({ timing: { bootSeconds: 1.5, msiSeconds: 0.2 } });
  l = simLab(host);
});
after(async () => {
  await host?.dispose();
  l?.cleanup();
});

describe('probe-psdirect.ps1 (the Windows "setup" wait) on the simulated host', () => {
  const probe = (machine: string, password: string) =>
    runCall<{ answered: boolean; computerName?: string; reason?: string }>(host.runner(), call.probePsDirect(hypervConfig(l.lab.spec), l.machine(machine), password), { timeoutMs: 60_000 });

  test('ready: answers as the computer name; wrong password, VM off, setup not finished, restarting, no VM: answered false with the reason', async () => {
    const g = l.addGuest('web1');
    const password = guestState(host, g.vm).adminPassword as string;
    assert.deepEqual(await probe('web1', password), { answered: true, computerName: 'WEB1' });

    const wrong = await probe('web1', `${password}x`);
    assert.equal(wrong.answered, false);
    assert.equal(wrong.reason, 'The credential is invalid.');

    const setVm = (change: (vm: any) => void) => host.update((s) => change(s.vms.find((v: any) => v.name === g.vm)));
    setVm((vm) => (vm.guest.phase = 'setup'));
    const inSetup = await probe('web1', password);
    assert.equal(inSetup.answered, false);
    assert.match(inSetup.reason!, /^\[labctl-simweb-web1\] An error has occurred which Windows PowerShell cannot handle\. A remote session might have ended\.$/);

    setVm((vm) => {
      vm.guest.phase = 'ready';
      vm.state = 'Off';
    });
    const off = await probe('web1', password);
    assert.equal(off.answered, false);
    assert.equal(off.reason, 'The virtual machine labctl-simweb-web1 is not in running state.');

    setVm((vm) => (vm.state = 'Running'));
    const none = await probe('web2', password);
    assert.equal(none.answered, false);
    assert.equal(none.reason, 'The input VMName labctl-simweb-web2 does not resolve to a single virtual machine.');

    assert.deepEqual(await probe('web1', password), { answered: true, computerName: 'WEB1' });
  });
});

describe('PowerShell Direct as remoting behaves', () => {
  let g1: ReturnType<typeof addReadyWindowsGuest>;
  before(() => {
    g1 = addReadyWindowsGuest(host, 'sim-g1', PASSWORD);
    addReadyWindowsGuest(host, 'sim-g2', PASSWORD, { computerName: 'OTHER' });
  });

  test('a script block runs in a fresh runspace of the guest: its drive, environment and modules, no host variable, arguments by value', async () => {
    const r = await hostScript(
      host,
      `${CRED}
$secret = 'a host value'
$r = @{}
$r.leak = Invoke-Command -VMName sim-g1 -Credential $cred -ScriptBlock { $secret }
$r.args = Invoke-Command -VMName sim-g1 -Credential $cred -ArgumentList 'x y', @{ k = 'v' } -ScriptBlock { param($a, $h) "$a|$($h.k)|$($h.GetType().Name)" }
$r.guest = Invoke-Command -VMName sim-g1 -Credential $cred -ScriptBlock {
  @{ cn = $env:COMPUTERNAME; pf = $env:ProgramFiles; sysroot = $env:SystemRoot; system32 = (Test-Path -LiteralPath 'C:\\Windows\\System32');
     hyperv = [bool](Get-Module -ListAvailable -Name Hyper-V); web = [bool](Get-Module -ListAvailable -Name WebAdministration);
     netsec = [bool](Get-Module -ListAvailable -Name NetSecurity) }
}
$null = Invoke-Command -VMName sim-g1 -Credential $cred -ScriptBlock { $global:kept = 1 }
$r.fresh = [bool](Invoke-Command -VMName sim-g1 -Credential $cred -ScriptBlock { $null -eq $global:kept })
$r.other = Invoke-Command -VMName sim-g2 -Credential $cred -ScriptBlock { $env:COMPUTERNAME }
$r.hostAfter = [string]$env:COMPUTERNAME
$r.hostC = (Get-PSDrive -Name C).Root
$r`,
    );
    assert.equal(r.leak, null, 'a host variable reached the guest');
    assert.equal(r.args, 'x y|v|Hashtable');
    assert.equal(r.guest.cn, 'SIM-G1');
    assert.equal(r.guest.pf, 'C:\\Program Files');
    assert.equal(r.guest.sysroot, 'C:\\Windows');
    assert.equal(r.guest.system32, true);
    assert.equal(r.guest.hyperv, false, 'a guest has no Hyper-V module');
    assert.equal(r.guest.web, false, 'WebAdministration comes with IIS Management Scripts and Tools');
    assert.equal(r.guest.netsec, true);
    assert.equal(r.guest.PSComputerName, 'sim-g1', 'remote output carries PSComputerName');
    assert.equal(r.fresh, true, 'each Invoke-Command -VMName gets a new runspace');
    assert.equal(r.other, 'OTHER');
    assert.equal(r.hostAfter, '', "the guest's environment stays in the guest");
    assert.equal(r.hostC, path.join(host.dir, 'host', 'C'), "the host's C: is still the host's");
  });

  test('remote errors are Invoke-Command\'s own non-terminating errors; $ErrorActionPreference Stop makes them terminating', async () => {
    const r = await hostScript(
      host,
      `${CRED}
$ErrorActionPreference = 'Continue'
$r = @{}
$r.out = Invoke-Command -VMName sim-g1 -Credential $cred -ErrorVariable ev -ErrorAction SilentlyContinue -ScriptBlock { Write-Error 'first'; 'went on'; throw 'second' }
$r.errors = @($ev | ForEach-Object { $_.Exception.Message })
$r.type = @($ev | ForEach-Object { $_.Exception.GetType().Name }) | Select-Object -First 1
$ErrorActionPreference = 'Stop'
try { Invoke-Command -VMName sim-g1 -Credential $cred -ScriptBlock { throw 'stops here' }; $r.stopped = $false } catch { $r.stopped = $_.Exception.Message }
try { Invoke-Command -VMName nowhere -Credential $cred -ScriptBlock { 1 }; $r.missing = $false } catch { $r.missing = [string]$_.FullyQualifiedErrorId }
$r`,
    );
    assert.equal(r.out, 'went on');
    assert.deepEqual(r.errors, ['first', 'second']);
    assert.equal(r.type, 'RemoteException');
    assert.equal(r.stopped, 'stops here');
    assert.match(r.missing, /^InvalidVMNameNotSingle,/);
  });

  test('a New-PSSession session keeps its runspace until Remove-PSSession; Copy-Item -ToSession copies files and folders as the real cmdlet does', async () => {
    const src = path.join(host.dir, 'copy-src');
    mkdirSync(path.join(src, 'public', 'css'), { recursive: true });
    writeFileSync(path.join(src, 'server.cjs'), 'module.exports = 1;\n');
    writeFileSync(path.join(src, 'public', 'css', 'a.css'), 'body{}\n');
    host.putFile('C:\\stage\\one.txt', 'from the host C: drive\n');
    const r = await hostScript(
      host,
      `${CRED}
$r = @{}
$s = New-PSSession -VMName sim-g1 -Credential $cred
$null = Invoke-Command -Session $s -ScriptBlock { $global:n = 41; New-Item -ItemType Directory -Path 'C:\\labctl\\app' -Force | Out-Null }
$r.kept = [int](Invoke-Command -Session $s -ScriptBlock { $global:n + 1 })
Copy-Item -LiteralPath '${src}' -Destination 'C:\\labctl\\app\\v1' -ToSession $s -Recurse -Force
Copy-Item -LiteralPath 'C:\\stage\\one.txt' -Destination 'C:\\labctl\\app' -ToSession $s
try { Copy-Item -LiteralPath '${src}/server.cjs' -Destination 'C:\\no\\such\\folder\\x.cjs' -ToSession $s; $r.parent = 'copied' } catch { $r.parent = $_.Exception.Message }
$r.seen = @(Invoke-Command -Session $s -ScriptBlock { @((Test-Path 'C:\\labctl\\app\\v1\\public\\css\\a.css'), (Test-Path 'C:\\labctl\\app\\one.txt')) } | ForEach-Object { [bool]$_ })
Copy-Item -Path 'C:\\labctl\\app\\one.txt' -Destination 'C:\\stage\\back.txt' -FromSession $s
$r.back = Get-Content -Raw -LiteralPath 'C:\\stage\\back.txt'
$r.state = [string]$s.State
Remove-PSSession -Session $s
$r.closed = [string]$s.State
try { Invoke-Command -Session $s -ScriptBlock { 1 }; $r.after = 'ran' } catch { $r.after = $_.Exception.Message }
$r`,
    );
    assert.equal(r.kept, 42);
    assert.deepEqual(r.seen, [true, true]);
    assert.equal(readFileSync(guestPath(g1, 'C:\\labctl\\app\\v1\\server.cjs'), 'utf8'), 'module.exports = 1;\n', 'the folder became the destination');
    assert.ok(existsSync(guestPath(g1, 'C:\\labctl\\app\\one.txt')), 'a file lands in an existing folder under its name');
    assert.match(r.parent, /Could not find a part of the path/);
    assert.equal(r.back, 'from the host C: drive\n', 'Copy-Item -FromSession brings a guest file to the host');
    assert.equal(r.state, 'Opened');
    assert.equal(r.closed, 'Closed');
    assert.match(r.after, /session state/i);
  });

  test('the guest restarts (Restart-Computer): PowerShell Direct refuses while it is down, then services come back by start type', async () => {
    const r = await hostScript(
      host,
      `${CRED}
$r = @{}
$s = New-PSSession -VMName sim-g1 -Credential $cred
$null = Invoke-Command -Session $s -ScriptBlock { Set-Service -Name W32Time -StartupType Automatic; Restart-Computer -Force }
try { Invoke-Command -VMName sim-g1 -Credential $cred -ScriptBlock { 1 }; $r.down = 'answered' } catch { $r.down = $_.Exception.Message }
Start-Sleep -Seconds 2
$r.up = Invoke-Command -VMName sim-g1 -Credential $cred -ScriptBlock { @(Get-Service -Name W32Time, msiserver | ForEach-Object { '{0}={1}' -f $_.Name, $_.Status }) }
try { Invoke-Command -Session $s -ScriptBlock { 1 }; $r.old = 'answered' } catch { $r.old = $_.Exception.Message }
$r`,
    );
    assert.match(r.down, /An error has occurred which Windows PowerShell cannot handle/);
    assert.deepEqual(r.up, ['W32Time=Running', 'msiserver=Stopped'], 'Automatic services start at boot, Manual ones do not');
    assert.match(r.old, /remote session might have ended/, 'a session from before the restart is broken');
    assert.equal(guestState(host, 'sim-g1').boot.count, 2);
  });
});
