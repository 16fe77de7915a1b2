/**
 * Publishing with Web Deploy on the simulated host, rule by rule: the web role prepares a
 * simulated Windows guest over PowerShell Direct (site.ps1: the site over C:\labctl\site;
 * publishing-user.ps1: the publishing user, its IIS Manager Permissions and Modify on the folder) and writes the
 * node's .publishsettings; then labctl's own host script, templates/hyperv/publish-webdeploy.ps1,
 * runs msdeploy.exe on the host (behaviours/msdeploy.ps1, a stand-in that decides as WMSvc and
 * Web Deploy's handler do). Each documented refusal is broken once on purpose and shows the
 * error labctl gives: msdeploy's own Error Code and More Information, with the site's name.
 * Runs in real PowerShell 7 through labctl's runner; no namespaces (the bridge is not needed:
 * the stand-in works on the simulator's state). Subnet 198.18.44.0/24 (never routed).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runSteps } from '../../src/engine/runner.js';
import type { Step } from '../../src/engine/step.js';
import { PUBLISH_USER, SITE, publishPassword, publishSettingsPath } from '../../src/roles/web-windows/index.js';
import { scriptFile } from '../../src/transports/powershell.js';
import { SimHost } from './host.js';
import { addHostLabAdapter, guestPath, guestState, hostScript, MSDEPLOY, putMsdeploy, simLab, type ReadyGuest, type SimLab } from './guest-helpers.js';

const REDIS: Step = { id: 'redis:redis:service', title: 'Redis (not part of this test)', apply: async () => {} };

let host: SimHost;
let l: SimLab;
let web1: ReadyGuest;
let settings: string;
before(async () => {
  host = new SimHost({ timing: { bootSeconds: 0.3, msiSeconds: 0.2 } });
  l = simLab(host);
  addHostLabAdapter(host, '198.18.44.1');
  putMsdeploy(host);
  web1 = l.addGuest('web1');
  await runSteps([REDIS, ...l.provider.webSteps(l.lab, l.machine('web1'), REDIS.id)!], { store: l.lab.store });
  settings = publishSettingsPath(l.lab, 'web1');
});
after(async () => {
  await host?.dispose();
  l?.cleanup();
});

/** A folder on labctl's side to publish, with these files. */
function folder(name: string, files: Record<string, string>): string {
  const dir = path.join(l.dir, name);
  rmSync(dir, { recursive: true, force: true });
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

/** publish-webdeploy.ps1 exactly as the role runs it (through labctl's runner). */
const publish = (source: string, params: Record<string, unknown> = {}) =>
  host.invoke<{ summary: string; changes: string[]; commandLine: string }>('hyperv/publish-webdeploy.ps1', { SourcePath: source, SiteName: SITE, PublishSettingsPath: settings, SkipFolders: ['iisnode'], ...params }, 120_000);

/** Runs msdeploy.exe with a command line of the test's own (what labctl never sends), its exit code and output. */
const msdeploy = (commandLine: string) =>
  hostScript<{ code: number; out: string }>(
    host,
    `$o = [System.IO.Path]::GetTempFileName(); $e = [System.IO.Path]::GetTempFileName()
$p = Start-Process -FilePath '${MSDEPLOY}' -ArgumentList '${commandLine.replace(/'/g, "''")}' -Wait -PassThru -NoNewWindow -RedirectStandardOutput $o -RedirectStandardError $e
@{ code = $p.ExitCode; out = ((Get-Content $o) + (Get-Content $e)) -join "\`n" }`,
  );

/** Breaks something in the guest for one test and puts it back afterwards. */
async function broken(change: (g: any) => void, run: () => Promise<unknown>): Promise<void> {
  const saved = JSON.stringify(guestState(host, web1.vm));
  host.update((s) => change(s.vms.find((v: any) => v.name === web1.vm).guest));
  try {
    await run();
  } finally {
    host.update((s) => {
      s.vms.find((v: any) => v.name === web1.vm).guest = JSON.parse(saved);
    });
  }
}

const refused = (code: string, more: RegExp) => (e: Error) => {
  assert.match(e.message, /publish-webdeploy\.ps1/);
  assert.match(e.message, new RegExp(`msdeploy\\.exe exited with -1 publishing to ${SITE}`));
  assert.match(e.message, new RegExp(`Error Code: ${code}`));
  assert.match(e.message, more);
  return true;
};

describe('Web Deploy publishing on the simulated host', () => {
  test('the role prepared the guest: a non-administrator publishing user with IIS Manager Permissions on the site and Modify on its folder; the site over C:\\labctl\\site; the app published', async () => {
    const g = guestState(host, web1.vm);
    const u = g.users['labctl-publish'];
    assert.deepEqual([u.name, u.enabled, u.groups, u.password], [PUBLISH_USER, true, ['Users'], publishPassword(l.lab, 'web1')]);
    assert.deepEqual(g.iis.authorization, [{ path: SITE, name: 'WEB1\\labctl-publish', isRole: false }]);
    assert.deepEqual(g.acl['c:\\labctl\\site'].grants, [{ account: 'labctl-publish', rights: 'M', inherit: 'OI,CI' }]);
    assert.equal(readFileSync(guestPath(web1, 'C:\\labctl\\site\\server.cjs'), 'utf8'), 'module.exports = {};\n');
    assert.match(readFileSync(guestPath(web1, 'C:\\labctl\\site\\web.config'), 'utf8'), /<add key="NODE_NAME" value="web1" \/>/);
    const wd = g.msi.installed.webdeploy.features;
    assert.ok(wd.includes('MSDeployWMSVCHandlerFeature'), 'Web Deploy with its WMSVC handler (after the Management Service)');
    assert.ok(g.iis.delegation.some((r: any) => r.providers.includes('contentPath') && r.path === '{userScope}'), 'and the delegation rule its full install adds');
  });

  test('site.ps1 and publishing-user.ps1 a second time change nothing in the guest (the password set again to the same)', async () => {
    const pick = () => {
      const g = guestState(host, web1.vm);
      // compared as values: the simulator's hashtables do not keep their keys' order
      return JSON.parse(JSON.stringify({ users: { ...g.users, 'labctl-publish': { ...g.users['labctl-publish'], passwordLastSet: null } }, iis: g.iis, acl: g.acl, firewall: g.firewall }, (_k, v) => (_k === 'recycled' ? undefined : v)));
    };
    const before = pick();
    const steps = l.provider.webSteps(l.lab, l.machine('web1'), REDIS.id)!;
    for (const id of ['web:web1:site', 'web:web1:publisher']) {
      const step = steps.find((s) => s.id === id)!;
      assert.equal(await step.check!({ log: () => {} } as never), true, `${id} finds it done`);
      await step.apply({ log: () => {} } as never);
      assert.deepEqual(pick(), before, `${id} changed nothing`);
    }
  });

  test('ManagementAuthorization (the stand-in of IIS\'s API): a second Grant of one entry fails, as do an account or a site that does not exist; GetAuthorizedUsers lists what was granted', async () => {
    const r = await hostScript(
      host,
      `$cred = New-Object System.Management.Automation.PSCredential -ArgumentList 'Administrator', (ConvertTo-SecureString -String '${guestState(host, web1.vm).adminPassword}' -AsPlainText -Force)
Invoke-Command -VMName ${web1.vm} -Credential $cred -ScriptBlock {
  Add-Type -Path (Join-Path $env:windir 'System32\\inetsrv\\Microsoft.Web.Management.dll')
  $try = { param($b) try { & $b; 'ok' } catch { $_.Exception.InnerException.Message } }
  @{
    again   = & $try { [Microsoft.Web.Management.Server.ManagementAuthorization]::Grant('WEB1\\labctl-publish', 'labctl-chat', $false) }
    nobody  = & $try { [Microsoft.Web.Management.Server.ManagementAuthorization]::Grant('WEB1\\nobody', 'labctl-chat', $false) }
    nosite  = & $try { [Microsoft.Web.Management.Server.ManagementAuthorization]::Grant('WEB1\\labctl-publish', 'no-such-site', $false) }
    listed  = @([Microsoft.Web.Management.Server.ManagementAuthorization]::GetAuthorizedUsers('labctl-chat', $false, 0, [int]::MaxValue) | ForEach-Object { $_.Name })
  }
} | ForEach-Object { @{ again = $_.again; nobody = $_.nobody; nosite = $_.nosite; listed = $_.listed } }`,
    );
    assert.match(r.again, /Cannot add duplicate collection entry of type 'add' with unique key attribute 'name' set to 'WEB1\\labctl-publish'/);
    assert.match(r.nobody, /The user 'WEB1\\nobody' does not exist/);
    assert.match(r.nosite, /The site 'no-such-site' does not exist/);
    assert.deepEqual(r.listed, ['WEB1\\labctl-publish']);
  });

  test('a sync adds, updates and deletes files, keeps iisnode\'s log folder (skipped), and prints the summary', async () => {
    mkdirSync(guestPath(web1, 'C:\\labctl\\site\\iisnode'), { recursive: true });
    writeFileSync(guestPath(web1, 'C:\\labctl\\site\\iisnode\\web1-1234-stdout.txt'), 'a log of iisnode\n');
    writeFileSync(guestPath(web1, 'C:\\labctl\\site\\stale.js'), 'left from an older build\n');
    const src = folder('v2', { 'server.cjs': 'module.exports = { v: 2 };\n', 'web.config': readFileSync(guestPath(web1, 'C:\\labctl\\site\\web.config'), 'utf8'), 'public/index.html': '<!doctype html><title>chat v2</title>\n', 'public/app.js': '/* new */\n' });
    const r = await publish(src);
    assert.match(r.summary, /^Total changes: 4 \(1 added, 1 deleted, 2 updated, 0 parameters changed, \d+ bytes copied\)$/);
    assert.deepEqual(r.changes.sort(), [
      'Info: Adding file (labctl-chat\\public\\app.js).',
      'Info: Deleting file (labctl-chat\\stale.js).',
      'Info: Updating file (labctl-chat\\public\\index.html).',
      'Info: Updating file (labctl-chat\\server.cjs).',
    ]);
    assert.equal(readFileSync(guestPath(web1, 'C:\\labctl\\site\\iisnode\\web1-1234-stdout.txt'), 'utf8'), 'a log of iisnode\n', 'the skip rule kept the log folder');
    assert.equal(readFileSync(guestPath(web1, 'C:\\labctl\\site\\server.cjs'), 'utf8'), 'module.exports = { v: 2 };\n');
    const again = await publish(src);
    assert.match(again.summary, /^Total changes: 0 \(0 added, 0 deleted, 0 updated/, 'unchanged content is not sent again (-useChecksum)');
    // the credentials are in the .publishsettings file only: the command line names the file
    assert.match(r.commandLine, /publishSettings="[^"]+web1\.publishsettings"/);
    assert.ok(!r.commandLine.includes(publishPassword(l.lab, 'web1')) && !/password|userPWD/i.test(r.commandLine));
  });

  test('no msdeploy.exe on the host: the host script says Web Deploy is not installed', async () => {
    rmSync(host.local(MSDEPLOY));
    try {
      await assert.rejects(publish(folder('x', { 'a.txt': 'a' })), /Web Deploy is not installed on this host: there is no C:\\Program Files\\IIS\\Microsoft Web Deploy V3\\msdeploy\.exe/);
    } finally {
      putMsdeploy(host);
    }
  });

  const src = () => folder('v3', { 'server.cjs': `module.exports = { v: ${Date.now()} };\n` });

  test('ERROR_DESTINATION_NOT_REACHABLE: the VM is off, or the host has no way into its subnet', async () => {
    const saved = host.read();
    host.update((s) => (s.vms.find((v: any) => v.name === web1.vm).state = 'Off'));
    try {
      await assert.rejects(publish(src()), refused('ERROR_DESTINATION_NOT_REACHABLE', /Could not connect to the remote computer \("198\.18\.44\.11"\).*Web Management Service/));
    } finally {
      host.update((s) => (s.vms.find((v: any) => v.name === web1.vm).state = saved.vms.find((v: any) => v.name === web1.vm).state));
    }
    host.update((s) => (s.host.adapters = s.host.adapters.filter((a: any) => a.switchName !== 'labctl-test')));
    try {
      await assert.rejects(publish(src()), refused('ERROR_DESTINATION_NOT_REACHABLE', /Unable to connect to the remote server/));
    } finally {
      addHostLabAdapter(host, '198.18.44.1');
    }
  });

  test('ERROR_DESTINATION_NOT_REACHABLE: the guest firewall does not let TCP 8172 in', async () => {
    await broken(
      (g) => (g.firewall = g.firewall.filter((r: any) => r.name !== 'labctl-wmsvc')),
      () => assert.rejects(publish(src()), refused('ERROR_DESTINATION_NOT_REACHABLE', /firewall drops it/)),
    );
  });

  test('ERROR_DESTINATION_NOT_REACHABLE: WMSvc is not running', async () => {
    await broken(
      (g) => {
        g.services.wmsvc.status = 'Stopped';
        g.services.wmsvc.running = null;
      },
      () => assert.rejects(publish(src()), refused('ERROR_DESTINATION_NOT_REACHABLE', /actively refused it 198\.18\.44\.11:8172/)),
    );
  });

  test('WMSvc started while remote management was off refuses the remote connection (403), whatever the registry says now', async () => {
    await broken(
      (g) => (g.services.wmsvc.running.remoteManagement = false),
      () => assert.rejects(publish(src()), refused('ERROR_DESTINATION_NOT_REACHABLE', /\(403\) Forbidden/)),
    );
  });

  test('ERROR_DESTINATION_NOT_REACHABLE (404): Web Deploy installed without its WMSVC handler', async () => {
    await broken(
      (g) => (g.msi.installed.webdeploy.features = g.msi.installed.webdeploy.features.filter((f: string) => f !== 'MSDeployWMSVCHandlerFeature')),
      () => assert.rejects(publish(src()), refused('ERROR_DESTINATION_NOT_REACHABLE', /\(404\) Not Found/)),
    );
  });

  test('ERROR_USER_UNAUTHORIZED (401): a wrong password, a user that does not exist, no IIS Manager Permissions on the site', async () => {
    const unauthorized = refused('ERROR_USER_UNAUTHORIZED', /could not authorize\. Make sure that you are using the correct user name and password.*\(401\) Unauthorized/);
    await broken((g) => (g.users['labctl-publish'].password = 'An0ther-Passw0rd!'), () => assert.rejects(publish(src()), unauthorized));
    await broken((g) => delete g.users['labctl-publish'], () => assert.rejects(publish(src()), unauthorized));
    await broken((g) => (g.iis.authorization = []), () => assert.rejects(publish(src()), unauthorized));
    // granted under the bare user name: WMSvc compares the COMPUTER\user it authenticated
    await broken((g) => (g.iis.authorization = [{ path: SITE, name: 'labctl-publish', isRole: false }]), () => assert.rejects(publish(src()), unauthorized));
  });

  test('ERROR_INSUFFICIENT_ACCESS_TO_SITE_FOLDER: the publishing user cannot write the site\'s folder (no Modify, or not inherited)', async () => {
    const denied = refused('ERROR_INSUFFICIENT_ACCESS_TO_SITE_FOLDER', /Unable to perform the operation \("Create Directory"\) for the specified directory \("C:\\labctl\\site"\)/);
    await broken((g) => (g.acl['c:\\labctl\\site'].grants = []), () => assert.rejects(publish(src()), denied));
    await broken((g) => (g.acl['c:\\labctl\\site'].grants = [{ account: 'labctl-publish', rights: 'M', inherit: '' }]), () => assert.rejects(publish(src()), denied));
    await broken((g) => (g.acl['c:\\labctl\\site'].grants = [{ account: 'labctl-publish', rights: 'RX', inherit: 'OI,CI' }]), () => assert.rejects(publish(src()), denied));
  });

  test('ERROR_USER_NOT_AUTHORIZED_FOR_CONTENTPATH: a destination outside the user\'s site, or no delegation rule for contentPath', async () => {
    const notAuthorized = /Error Code: ERROR_USER_NOT_AUTHORIZED_FOR_CONTENTPATH[\s\S]*Could not complete an operation with the specified provider \("contentPath"\)/;
    const dir = src();
    const outside = await msdeploy(`-verb:sync -source:contentPath="${dir}" -dest:contentPath="C:\\labctl\\site",publishSettings="${settings}" -allowUntrusted`);
    assert.equal(outside.code, -1);
    assert.match(outside.out, notAuthorized);
    const otherSite = await msdeploy(`-verb:sync -source:contentPath="${dir}" -dest:contentPath="Default Web Site",publishSettings="${settings}" -allowUntrusted`);
    assert.match(otherSite.out, notAuthorized);
    await broken((g) => (g.iis.delegation = []), () => assert.rejects(publish(dir), refused('ERROR_USER_NOT_AUTHORIZED_FOR_CONTENTPATH', /contentPath/)));
  });

  test('ERROR_CERTIFICATE_VALIDATION_FAILED: WMSvc\'s self-signed certificate without -allowUntrusted (labctl always passes it)', async () => {
    const r = await msdeploy(`-verb:sync -source:contentPath="${src()}" -dest:contentPath="${SITE}",publishSettings="${settings}"`);
    assert.equal(r.code, -1);
    assert.match(r.out, /Error Code: ERROR_CERTIFICATE_VALIDATION_FAILED[\s\S]*could not verify the server's certificate/);
  });

  test('the guest scripts name the VM when the publishing user cannot be made: New-LocalUser refuses a password that does not meet the complexity policy', async () => {
    await assert.rejects(
      host.invoke('hyperv/guest-run.ps1', {
        VMName: web1.vm,
        UserName: 'Administrator',
        Password: guestState(host, web1.vm).adminPassword,
        GuestScript: scriptFile('hyperv/web/publishing-user.ps1'),
        Parameters: { SiteName: SITE, SitePath: 'C:\\labctl\\site', PublishUser: 'labctl-other', PublishPassword: 'password' },
      }),
      /publishing-user\.ps1 on labctl-simweb-web1: The password does not meet the password policy requirements/,
    );
    assert.equal(guestState(host, web1.vm).users['labctl-other'], undefined);
  });
});
