/**
 * The Windows web role's guest scripts (templates/hyperv/web/*.ps1), each alone, through
 * guest-run.ps1 exactly as labctl runs them (the role's GuestChannel: call.guestRun through
 * labctl's runner, PowerShell Direct into the simulated guest), in real PowerShell 7: each does
 * its job, a second run changes nothing, and each documented failure ends in an error that
 * names the VM and the package or feature.
 *
 * The guests are put into the state ready; the installers are small stand-in packages
 * (behaviours/guest-msi.ps1) copied in from the lab's package cache as the role copies them.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FEATURES, SITE, renderWebConfig } from '../../src/roles/web-windows/index.js';
import { packageCacheDir, type WebPackage } from '../../src/roles/web-windows/packages.js';
import { scriptFile } from '../../src/transports/powershell.js';
import { SimHost } from './host.js';
import { addReadyWindowsGuest, guestPath, guestState, hostScript, plain, rebootGuest, simLab, type ReadyGuest, type SimLab } from './guest-helpers.js';

let host: SimHost;
let l: SimLab;
before(() => {
  host = new SimHost({ timing: { bootSeconds: 0.5, msiSeconds: 0.3 } });
  l = simLab(host);
});
after(async () => {
  await host?.dispose();
  l?.cleanup();
});

const FILES = () => Object.fromEntries(l.packages.map((p) => [p.id, p.check]));
const pkg = (id: WebPackage['id']) => l.packages.find((p) => p.id === id)!;
/** install-msi.ps1's parameters and copy, as the role's msi step builds them */
const msi = (id: WebPackage['id']) => {
  const p = pkg(id);
  const guestMsi = `C:\\labctl\\packages\\${p.file}`;
  return {
    params: { MsiPath: guestMsi, CheckPath: p.check, LogPath: `C:\\labctl\\logs\\${p.id}.msi.log`, Properties: p.properties },
    copy: { from: path.join(packageCacheDir(l.lab.home), p.file), to: guestMsi },
  };
};
const run = async <T = any>(machine: string, script: string, params: Record<string, unknown>, copy?: { from: string; to: string }) =>
  plain(await l.guest(machine).run<T>(`hyperv/web/${script}`, params, copy ? { copy } : {}));
const installMsi = (machine: string, id: WebPackage['id']) => {
  const m = msi(id);
  return run(machine, 'install-msi.ps1', m.params, m.copy);
};
const webState = (machine: string) => run(machine, 'web-state.ps1', { Features: FEATURES, Files: FILES(), SiteName: SITE });
/** the parts of a guest's state that the scripts change */
const snapshot = (vm: string, ignore: string[] = []) => {
  const g = guestState(host, vm);
  // (a plain object: the simulator's state keeps no key order, deepEqual compares without it)
  // (an install's time "at" is left out: the state's JSON round trip drops a trailing zero of its
  // fraction of a second, so one value reads back as two different strings)
  return JSON.parse(JSON.stringify({ features: g.features, services: g.services, registry: g.registry, firewall: g.firewall, msi: g.msi.installed, iis: g.iis, acl: g.acl }, (k, v) => (ignore.includes(k) || k === 'at' ? undefined : v)));
};

describe('the web role\'s guest scripts, each alone through guest-run.ps1', () => {
  let web1: ReadyGuest;
  before(() => {
    web1 = l.addGuest('web1');
  });

  test('web-state.ps1 on a fresh Windows Server: nothing of the role there (no WebAdministration module yet)', async () => {
    const s = await webState('web1');
    assert.deepEqual(Object.values(s.features), FEATURES.map(() => false));
    assert.deepEqual(Object.values(s.files), [false, false, false, false]);
    assert.equal(s.wmsvc, null);
    assert.equal(s.remoteManagement, false);
    assert.equal(s.firewall, false);
    assert.equal(s.site, null);
  });

  test('install-features.ps1 installs IIS with its dependencies, W3SVC and the Default Web Site on port 80, WMSVC manual and stopped; a second run changes nothing', async () => {
    const r = await run('web1', 'install-features.ps1', { Features: FEATURES });
    assert.equal(r.restartNeeded, 'No');
    for (const f of [...FEATURES, 'Web-WebServer', 'Web-Mgmt-Tools', 'NET-Framework-45-ASPNET', 'Web-Static-Content']) assert.ok(r.changed.includes(f), `${f} was installed`);
    const g = guestState(host, web1.vm);
    assert.equal(g.services.w3svc.status, 'Running');
    assert.deepEqual([g.services.wmsvc.startType, g.services.wmsvc.status], ['Manual', 'Stopped'], 'WMSVC installs manual (iis-docs remote administration)');
    assert.equal(g.registry['hklm:\\software\\microsoft\\webmanagement\\server'].EnableRemoteManagement.value, 0);
    const dws = g.iis.sites.find((s: any) => s.name === 'Default Web Site');
    assert.deepEqual([dws.state, dws.bindings[0].bindingInformation, dws.serverAutoStart], ['Started', '*:80:', true]);

    const before = snapshot(web1.vm);
    const again = await run('web1', 'install-features.ps1', { Features: FEATURES });
    assert.deepEqual(again.changed, []);
    assert.deepEqual(snapshot(web1.vm), before);
  });

  test('install-features.ps1 with a name Server Manager does not know: an error naming the VM and the feature', async () => {
    l.addGuest('web2');
    await assert.rejects(run('web2', 'install-features.ps1', { Features: ['Web-Server', 'Web-Bogus'] }), (e: Error) => {
      assert.match(e.message, /labctl-simweb-web2/);
      assert.match(e.message, /The role, role service, or feature name is not valid: 'Web-Bogus'/);
      return true;
    });
  });

  test('configure-wmsvc.ps1 turns remote management on while WMSVC is stopped (it reads the setting at start), starts it automatic, opens 8172; a second run changes nothing', async () => {
    // someone started WMSVC before it was configured: it runs with remote management off
    await hostScript(host, `$cred = New-Object System.Management.Automation.PSCredential -ArgumentList 'Administrator', (ConvertTo-SecureString -String '${guestState(host, web1.vm).adminPassword}' -AsPlainText -Force)
Invoke-Command -VMName ${web1.vm} -Credential $cred -ScriptBlock { Start-Service -Name WMSVC } | Out-Null
@{ ok = $true }`);
    assert.equal(guestState(host, web1.vm).services.wmsvc.running.remoteManagement, false);

    assert.deepEqual(await run('web1', 'configure-wmsvc.ps1', { Port: 8172 }), { status: 'Running' });
    const g = guestState(host, web1.vm);
    assert.deepEqual([g.services.wmsvc.status, g.services.wmsvc.startType], ['Running', 'Automatic']);
    assert.equal(g.services.wmsvc.running.remoteManagement, true, 'the running service has remote management on');
    assert.equal(g.registry['hklm:\\software\\microsoft\\webmanagement\\server'].EnableRemoteManagement.value, 1);
    const rule = g.firewall.find((r: any) => r.name === 'labctl-wmsvc');
    assert.deepEqual([rule.direction, rule.protocol, rule.localPort, rule.action], ['Inbound', 'TCP', '8172', 'Allow']);

    const before = snapshot(web1.vm);
    await run('web1', 'configure-wmsvc.ps1', { Port: 8172 });
    assert.deepEqual(snapshot(web1.vm), before, 'the service was not restarted, nothing rewritten');
    const s = await webState('web1');
    assert.deepEqual([s.wmsvc, s.remoteManagement, s.firewall], [{ status: 'Running', startType: 'Automatic' }, true, true]);
  });

  test('WMSvc reads EnableRemoteManagement at start: a change while it runs takes effect only after a restart; two sites on one port (simulator rules)', async () => {
    const r = await hostScript(
      host,
      `$cred = New-Object System.Management.Automation.PSCredential -ArgumentList 'Administrator', (ConvertTo-SecureString -String '${guestState(host, 'labctl-simweb-web2').adminPassword}' -AsPlainText -Force)
$r = @{}
$r.site = Invoke-Command -VMName labctl-simweb-web2 -Credential $cred -ScriptBlock {
  Install-WindowsFeature -Name Web-Mgmt-Service, Web-Scripting-Tools | Out-Null
  Start-Service -Name WMSVC
  Set-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\WebManagement\\Server' -Name EnableRemoteManagement -Value 1 -Type DWord
  # IIS: a second site on the Default Web Site's port is created stopped and cannot start
  Import-Module WebAdministration
  $new = New-Website -Name 'other' -PhysicalPath 'C:\\inetpub\\other' -Port 80
  try { Start-Website -Name 'other' -ErrorAction Stop; $started = 'started' } catch { $started = $_.Exception.Message }
  @{ created = [string]$new.state; start = $started }
}
$r.site = @{ created = $r.site.created; start = $r.site.start }
$r`,
    );
    assert.equal(guestState(host, 'labctl-simweb-web2').services.wmsvc.running.remoteManagement, false, 'still off: set while running');
    assert.deepEqual(r.site, { created: 'Stopped', start: 'Cannot create a file when that file already exists. (Exception from HRESULT: 0x800700B7)' }, 'two started sites cannot hold one binding');
  });

  test('configure-wmsvc.ps1 on a guest without the Management Service: an error naming the VM and what is missing (its registry key)', async () => {
    const g = addReadyWindowsGuest(host, 'sim-nowmsvc-2', 'N0wmsvc-Passw0rd!');
    await assert.rejects(
      host.invoke('hyperv/guest-run.ps1', { VMName: g.vm, UserName: 'Administrator', Password: 'N0wmsvc-Passw0rd!', GuestScript: scriptFile('hyperv/web/configure-wmsvc.ps1'), Parameters: { Port: 8172 } }),
      /configure-wmsvc\.ps1 on sim-nowmsvc-2: Cannot find path 'HKLM:\\SOFTWARE\\Microsoft\\WebManagement\\Server' because it does not exist\./,
    );
  });

  test('install-msi.ps1 installs a package whose /L*v log folder does not exist yet (msiexec exits 1622 when it is missing); a second run changes nothing', async () => {
    const r = await installMsi('web1', 'node');
    assert.deepEqual([r.installed, r.exitCode], [true, 0]);
    assert.ok(existsSync(guestPath(web1, 'C:\\Program Files\\nodejs\\node.exe')));
    const log = readFileSync(guestPath(web1, 'C:\\labctl\\logs\\node.msi.log'), 'utf8');
    assert.match(log, /Product: Node\.js -- Installation completed successfully\./);
    assert.match(log, /MainEngineThread is returning 0\s*$/);
    const before = snapshot(web1.vm);
    assert.deepEqual(await installMsi('web1', 'node'), { installed: false, already: true });
    assert.deepEqual(snapshot(web1.vm), before);
  });

  test('install-msi.ps1: iisnode on a guest without IIS fails (1603: its AddIisnodeSection custom action needs IIS) with an error naming the VM, the package and the log tail', async () => {
    const bare = addReadyWindowsGuest(host, 'sim-bare', 'Bare-Passw0rd!');
    const m = msi('iisnode');
    const invoke = (script: string, params: Record<string, unknown>, copy?: { from: string; to: string }) =>
      host.invoke('hyperv/guest-run.ps1', {
        VMName: bare.vm,
        UserName: 'Administrator',
        Password: 'Bare-Passw0rd!',
        GuestScript: scriptFile(`hyperv/web/${script}`),
        Parameters: params,
        ...(copy ? { CopyFrom: copy.from, CopyTo: copy.to } : {}),
      });
    await assert.rejects(invoke('install-msi.ps1', m.params, m.copy), (e: Error) => {
      assert.match(e.message, /sim-bare/);
      assert.match(e.message, /iisnode-full-v0\.2\.26-x64\.msi exited with 1603/);
      assert.match(e.message, /AddIisnodeSection/);
      return true;
    });
    assert.ok(!existsSync(guestPath(bare, 'C:\\Program Files\\iisnode\\iisnode.dll')), 'rolled back');
    // the package was never copied in: a clear error, not an msiexec code
    await assert.rejects(invoke('install-msi.ps1', msi('rewrite').params), /sim-bare.*no such file: C:\\labctl\\packages\\rewrite_amd64_en-US\.msi/s);
  });

  test('install-msi.ps1: Web Deploy before the Management Service installs, without its WMSVC handler (iis-docs)', async () => {
    const g = addReadyWindowsGuest(host, 'sim-nowmsvc', 'N0wmsvc-Passw0rd!');
    const m = msi('webdeploy');
    await host.invoke('hyperv/guest-run.ps1', {
      VMName: g.vm, UserName: 'Administrator', Password: 'N0wmsvc-Passw0rd!', GuestScript: scriptFile('hyperv/web/install-features.ps1'), Parameters: { Features: ['Web-Server'] },
    });
    const r: any = await host.invoke('hyperv/guest-run.ps1', {
      VMName: g.vm, UserName: 'Administrator', Password: 'N0wmsvc-Passw0rd!', GuestScript: scriptFile('hyperv/web/install-msi.ps1'), Parameters: m.params, CopyFrom: m.copy.from, CopyTo: m.copy.to,
    });
    assert.equal(r.installed, true);
    const features = guestState(host, g.vm).msi.installed.webdeploy.features;
    assert.ok(features.includes('MSDeployFeature'));
    assert.ok(!features.includes('MSDeployWMSVCHandlerFeature'), 'no handler without WMSVC');
  });

  test('install-msi.ps1: two installs at once in one guest: the second exits 1618 (another installation is in progress), the first completes', async () => {
    // the first install is held running (config.failures.msiHold) until the second has tried
    host.update((s) => (s.config.failures.msiHold = [web1.vm]));
    let first: Promise<any> | undefined;
    try {
      first = installMsi('web1', 'rewrite');
      const end = Date.now() + 60_000;
      while (!guestState(host, web1.vm).msi?.running && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      assert.equal(guestState(host, web1.vm).msi.running?.product, 'rewrite', 'the first install is running');
      await assert.rejects(installMsi('web1', 'webdeploy'), (e: Error) => {
        assert.match(e.message, /install-msi\.ps1 on labctl-simweb-web1: msiexec C:\\labctl\\packages\\WebDeploy_amd64_en-US\.msi exited with 1618 \(another installation is already in progress\)/);
        assert.match(e.message, /Error 1618\. Another installation is already in progress/);
        return true;
      });
    } finally {
      host.update((s) => (s.config.failures.msiHold = []));
    }
    assert.deepEqual((await first)!, { installed: true, exitCode: 0, restartNeeded: false });
    assert.deepEqual((await installMsi('web1', 'webdeploy')).installed, true, 'once the first is done, the second installs');
  });

  const publish = async (version: string, redisPassword = 'r3dis-Secret') => {
    const staging = path.join(l.dir, `stage-${version}`);
    mkdirSync(staging, { recursive: true });
    writeFileSync(path.join(staging, 'server.cjs'), 'module.exports = {};\n');
    writeFileSync(path.join(staging, 'web.config'), renderWebConfig(l.lab, l.machine('web1')));
    const appPath = `C:\\labctl\\app\\${version}`;
    const params = { SitePath: appPath, SiteName: SITE, Port: 80, PasswordFile: 'C:\\labctl\\secrets\\redis.password', RedisPassword: redisPassword, NewContent: true };
    return { appPath, result: await run('web1', 'site.ps1', params, { from: staging, to: appPath }) };
  };

  test('site.ps1 with a copied app (-NewContent) makes the chat site on port 80 (the Default Web Site stopped), the Redis password readable by its pool only, TCP 80 open; a second run changes nothing', async () => {
    const { appPath, result } = await publish('aaaaaaaaaaaa');
    assert.deepEqual(result, { site: SITE, physicalPath: appPath, state: 'Started' });
    const g = guestState(host, web1.vm);
    const site = g.iis.sites.find((x: any) => x.name === SITE);
    assert.deepEqual([site.state, site.physicalPath, site.appPool, site.bindings[0].bindingInformation], ['Started', appPath, SITE, '*:80:']);
    assert.equal(g.iis.sites.find((x: any) => x.name === 'Default Web Site').state, 'Stopped');
    assert.equal(g.iis.appPools.find((p: any) => p.name === SITE).managedRuntimeVersion, '');
    assert.equal(readFileSync(guestPath(web1, 'C:\\labctl\\secrets\\redis.password'), 'utf8'), 'r3dis-Secret');
    const acl = g.acl['c:\\labctl\\secrets\\redis.password'];
    assert.equal(acl.inheritance, 'removed');
    assert.deepEqual(acl.grants.map((x: any) => `${x.account}:${x.rights}`), ['Administrators:F', `IIS AppPool\\${SITE}:R`]);
    assert.equal(g.firewall.find((r: any) => r.name === 'labctl-app').localPort, '80');
    assert.ok(existsSync(guestPath(web1, `${appPath}\\web.config`)));

    const before = snapshot(web1.vm, ['recycled']);
    await publish('aaaaaaaaaaaa');
    assert.deepEqual(snapshot(web1.vm, ['recycled']), before, 'only the pool was recycled');
    const s = await webState('web1');
    assert.deepEqual(s.site, { state: 'Started', physicalPath: appPath, bindings: 'http *:80:' });
  });

  test('after the guest restarts, the chat site still has port 80: the Default Web Site does not take it back', async () => {
    rebootGuest(host, web1.vm);
    const s = await webState('web1');
    assert.equal(s.site.state, 'Started', 'the chat site did not start after the reboot');
    const g = guestState(host, web1.vm);
    assert.equal(g.boot.count, 2);
    assert.equal(g.iis.sites.find((x: any) => x.name === 'Default Web Site').state, 'Stopped');
    assert.deepEqual([s.wmsvc, s.remoteManagement], [{ status: 'Running', startType: 'Automatic' }, true], 'WMSVC comes back by itself (automatic), remote on');
  });
});
