/**
 * The Windows web role (src/roles/web-windows) through the Hyper-V provider, on the fake
 * host: only plan and fake-runner tested here, nothing of it has run in a real Windows
 * guest. Checks the order (IIS, WMSvc, Web Deploy after WMSvc, iisnode after URL Rewrite
 * and Node, then the site), a re-run that changes nothing, installers checked on the host
 * (pinned sha256, or recorded on first download), the Redis password reaching the guest
 * intact while plan masks it, and the web.config it publishes.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { runSteps } from '../../src/engine/runner.js';
import type { Step } from '../../src/engine/step.js';
import { HypervProvider } from '../../src/providers/hyperv/index.js';
import { redisPassword } from '../../src/roles/redis/index.js';
import { chatPassword } from '../../src/roles/redis/acl.js';
import { loadBundle } from '../../src/roles/web-linux/bundle.js';
import { publishPassword, publishSettingsPath, renderPublishSettings, renderWebConfig } from '../../src/roles/web-windows/index.js';
import { ensurePackage, packageCacheDir, packageHostPath, webPackagesFor, WEB_PACKAGES, type WebPackage } from '../../src/roles/web-windows/packages.js';
import { statSync } from 'node:fs';
import { sha256 } from '../../src/util/hash.js';
import { SEED_SPEC, testLab, type TestLab } from './hyperv-fakes.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'labctl-hvw-'));
const labs: TestLab[] = [];
after(() => {
  labs.forEach((l) => l.cleanup());
  rmSync(tmp, { recursive: true, force: true });
});

const appDir = path.join(tmp, 'app');
mkdirSync(path.join(appDir, 'public'), { recursive: true });
writeFileSync(path.join(appDir, 'server.cjs'), 'module.exports = {};\n');
writeFileSync(path.join(appDir, 'public', 'index.html'), '<!doctype html><title>chat</title>\n');

function packagesIn(home: string): WebPackage[] {
  const dir = packageCacheDir(home);
  mkdirSync(dir, { recursive: true });
  const make = (id: WebPackage['id'], file: string, check: string, pinned: boolean): WebPackage => {
    const bytes = Buffer.from(`fake ${id} installer\n`);
    writeFileSync(path.join(dir, file), bytes);
    return { id, title: id, url: `https://example.invalid/${file}`, ...(pinned ? { sha256: sha256(bytes) } : {}), file, check, properties: id === 'webdeploy' ? ['ADDLOCAL=ALL'] : [] };
  };
  return [
    make('webdeploy', 'wd.msi', 'C:\\Program Files\\IIS\\Microsoft Web Deploy V3\\msdeploy.exe', true),
    make('rewrite', 'rw.msi', 'C:\\Windows\\System32\\inetsrv\\rewrite.dll', true),
    make('node', 'node.msi', 'C:\\Program Files\\nodejs\\node.exe', true),
    make('iisnode', 'iisnode.msi', 'C:\\Program Files\\iisnode\\iisnode.dll', false),
  ];
}

/** A created lab on the fake host whose provider deploys the web role with local installers and a small app. */
async function createdLab(): Promise<{ l: TestLab; provider: HypervProvider; web: (m: string) => Step[] }> {
  // the fake guest knows the PowerShell Direct copy (hyperv.publish: copy); Web Deploy
  // publishing runs in the simulated host (test/hyperv-sim/guest-webdeploy.test.ts)
  const l = testLab(`${SEED_SPEC}  publish: copy\n`);
  labs.push(l);
  await runSteps(l.provider.createSteps(l.lab), { store: l.lab.store, concurrency: 1 });
  const packages = packagesIn(l.lab.home);
  const provider = new HypervProvider({
    runner: l.host.runner(),
    clock: l.clock,
    webPackages: packages,
    appBundle: () => loadBundle(appDir),
    webHealth: async (m) => {
      const g = l.host.guest(`labctl-hvtest-${m.name}`);
      return g.site?.state === 'Started' && g.passwordFile ? undefined : 'GET /healthz: ECONNREFUSED';
    },
  });
  const redisService: Step = { id: 'redis:redis:service', title: 'redis stand-in', apply: async () => {} };
  const web = (name: string) => {
    const m = l.lab.spec.machines.find((x) => x.name === name)!;
    return [redisService, ...provider.webSteps(l.lab, m, redisService.id)!];
  };
  return { l, provider, web };
}

describe('Windows web role on the fake host (plan/fake-runner tested only)', () => {
  test('installs in order, publishes the app with the Redis password, and a re-run changes nothing', async () => {
    const { l, web } = await createdLab();
    const mark = l.host.calls.length;
    await runSteps(web('web1'), { store: l.lab.store, concurrency: 1 });
    const guestCalls = l.host.calls.slice(mark).filter((c) => c.script === 'guest-run.ps1');
    const ran = guestCalls.map((c) => path.basename(String(c.params.GuestScript))).filter((s) => s !== 'web-state.ps1');
    assert.deepEqual(ran, ['install-features.ps1', 'configure-wmsvc.ps1', 'install-msi.ps1', 'install-msi.ps1', 'install-msi.ps1', 'install-msi.ps1', 'site.ps1']);
    const msiOrder = guestCalls
      .filter((c) => String(c.params.GuestScript).endsWith('install-msi.ps1'))
      .map((c) => path.win32.basename(String((c.params.Parameters as Record<string, unknown>).MsiPath)));
    assert.equal(msiOrder[0], 'wd.msi', 'Web Deploy comes right after WMSvc');
    assert.equal(msiOrder.at(-1), 'iisnode.msi', 'iisnode after URL Rewrite and Node');

    const g = l.host.guest('labctl-hvtest-web1');
    for (const f of ['Web-Server', 'Web-WebSockets', 'Web-Mgmt-Service']) assert.ok(g.features.has(f), f);
    assert.deepEqual(g.wmsvc, { status: 'Running', startType: 'Automatic' });
    assert.ok(g.remote && g.firewall);
    assert.match(g.site!.physicalPath, /^C:\\labctl\\app\\[0-9a-f]{12}$/);
    assert.equal(g.passwordFile, chatPassword(l.lab), 'the password of Redis user chat arrived unchanged');
    assert.notEqual(g.passwordFile, redisPassword(l.lab), 'not the administration password of the default user');
    // every guest call went in as Administrator with the generated password
    const admin = l.lab.store.secrets.read('hyperv-admin-web1');
    assert.ok(guestCalls.every((c) => c.params.Password === admin && c.params.UserName === 'Administrator'));

    const again = l.host.calls.length;
    const second = await runSteps(web('web1'), { store: l.lab.store, concurrency: 1 });
    assert.deepEqual(second.applied, []);
    const changes = l.host.calls
      .slice(again)
      .filter((c) => c.script !== 'guest-run.ps1' || !String(c.params.GuestScript).endsWith('web-state.ps1'))
      .filter((c) => !/^(get-|find-route)/.test(c.script));
    assert.deepEqual(changes, []);
  });

  test('the published web.config hands WebSockets to node and carries the app settings', async () => {
    const { l, web } = await createdLab();
    await runSteps(web('web2'), { store: l.lab.store, concurrency: 1 });
    const xml = l.host.guest('labctl-hvtest-web2').webConfig!;
    assert.equal(XMLValidator.validate(xml), true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' }).parse(xml);
    const ws = doc.configuration['system.webServer'];
    assert.equal(ws.webSocket['@enabled'], 'false');
    assert.equal(ws.handlers.add['@modules'], 'iisnode');
    assert.equal(ws.handlers.add['@path'], 'server.cjs');
    assert.equal(ws.iisnode['@nodeProcessCommandLine'], '"C:\\Program Files\\nodejs\\node.exe"');
    const settings = Object.fromEntries((doc.configuration.appSettings.add as any[]).map((a) => [a['@key'], a['@value']]));
    assert.deepEqual(settings, {
      NODE_NAME: 'web2',
      REDIS_HOST: '198.18.40.10',
      REDIS_PORT: '6379',
      REDIS_TOPOLOGY: 'single',
      REDIS_NODES: '',
      REDIS_USERNAME: 'chat',
      REDIS_PASSWORD_FILE: 'C:\\labctl\\secrets\\redis.password',
      CHANNEL: 'ChatApp',
      BACKPLANE: 'pubsub',
      RATE_PER_SEC: '20',
      RATE_BURST: '40',
    });
    assert.ok(!xml.includes(redisPassword(l.lab)) && !xml.includes(chatPassword(l.lab)), 'no password is in web.config');
  });

  test('plan shows the guest scripts with both passwords masked', async () => {
    const { l, web } = await createdLab();
    const app = web('web1').find((s) => s.id === 'web:web1:app')!;
    const action = app.describe!();
    assert.equal(action.script, 'templates/hyperv/guest-run.ps1');
    assert.equal(action.params!.Password, '<secret, from the lab secrets>');
    assert.equal((action.params!.Parameters as Record<string, unknown>).RedisPassword, '<secret, from the lab secrets>');
    assert.ok(!JSON.stringify(action).includes(redisPassword(l.lab)) && !JSON.stringify(action).includes(chatPassword(l.lab)));
  });
});

describe('installer cache on the host', () => {
  test('pinned: a file that does not match is refused; unpinned: the first digest is recorded and held to', async () => {
    const home = path.join(tmp, 'cache-home');
    const [pinned, , , unpinned] = packagesIn(home);
    assert.equal(await ensurePackage(home, pinned!), path.join(packageCacheDir(home), 'wd.msi'));
    writeFileSync(path.join(packageCacheDir(home), 'wd.msi'), 'tampered');
    await assert.rejects(ensurePackage(home, pinned!), /does not match its sha256/);

    const file = await ensurePackage(home, unpinned!);
    const recorded = readFileSync(`${file}.sha256`, 'utf8').trim();
    assert.equal(recorded, sha256(readFileSync(file)));
    writeFileSync(file, 'a different iisnode');
    await assert.rejects(ensurePackage(home, unpinned!), /does not match its sha256/);
  });
});

describe('web.config for iisnode', () => {
  test('every URL Rewrite rule has its <match url> (a rule is a pattern, optional conditions and an action; without the pattern IIS rejects the configuration)', () => {
    // MicrosoftDocs/iis-docs iis/extensions/url-rewrite-module/url-rewrite-module-configuration-reference.md:
    // "Each rewrite rule ... Pattern ... Conditions (optional) ... Action"; "A pattern is specified
    // within a <match> element of a rewrite rule."
    const l = testLab();
    labs.push(l);
    const m = l.lab.spec.machines.find((x) => x.name === 'web1')!;
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (name) => name === 'rule' }).parse(renderWebConfig(l.lab, m));
    const rules = doc.configuration['system.webServer'].rewrite.rules.rule as any[];
    assert.ok(rules.length >= 2);
    for (const rule of rules) {
      assert.ok(rule.match && typeof rule.match['@url'] === 'string' && rule.match['@url'] !== '', `rule "${rule['@name']}" has no <match url>`);
      assert.equal(rule.action['@type'], 'Rewrite');
    }
    const app = rules.find((r) => r['@name'] === 'app');
    assert.equal(app.match['@url'], '.*', 'the catch-all rule matches every URL; its condition sends existing files to IIS');    // the app picks its backplane from the settings iisnode passes it (redis.backplane, default pubsub)
    const settings = doc.configuration.appSettings.add as { '@key': string; '@value': string }[];
    assert.equal(settings.find((x) => x['@key'] === 'BACKPLANE')?.['@value'], 'pubsub');
  });
});

describe('Web Deploy publishing (hyperv.publish: webdeploy, the default): plan and files', () => {
  test('plan: the site step masks the Redis password, the publisher step the publishing password; the app step runs publish-webdeploy.ps1 on the host with the .publishsettings path, no credential', () => {
    const l = testLab();
    labs.push(l);
    const m = l.lab.spec.machines.find((x) => x.name === 'web1')!;
    const steps = l.provider.webSteps(l.lab, m, 'redis:redis:service')!;
    assert.deepEqual(
      steps.map((x) => x.id.replace('web:web1:', '')),
      ['iis', 'wmsvc', 'msi:webdeploy', 'msi:rewrite', 'msi:node', 'msi:iisnode', 'site', 'publisher', 'publishsettings', 'app', 'service'],
    );
    const site = steps.find((x) => x.id === 'web:web1:site')!.describe!();
    const inner = site.params!.Parameters as Record<string, unknown>;
    assert.equal(site.params!.GuestScript && String(site.params!.GuestScript).endsWith('site.ps1'), true);
    assert.deepEqual([inner.RedisPassword, inner.SitePath], ['<secret, from the lab secrets>', 'C:\\labctl\\site']);
    const publisher = steps.find((x) => x.id === 'web:web1:publisher')!.describe!();
    const who = publisher.params!.Parameters as Record<string, unknown>;
    assert.equal(String(publisher.params!.GuestScript).endsWith('publishing-user.ps1'), true);
    assert.deepEqual([who.PublishPassword, who.PublishUser, who.SitePath], ['<secret, from the lab secrets>', 'labctl-publish', 'C:\\labctl\\site']);
    const app = steps.find((x) => x.id === 'web:web1:app')!.describe!();
    assert.equal(app.script, 'templates/hyperv/publish-webdeploy.ps1');
    assert.deepEqual(Object.keys(app.params!).sort(), ['PublishSettingsPath', 'SiteName', 'SkipFolders', 'SourcePath']);
    assert.equal(app.params!.PublishSettingsPath, publishSettingsPath(l.lab, 'web1'));
    const plans = JSON.stringify([site, publisher, app]);
    assert.ok(!plans.includes(publishPassword(l.lab, 'web1')), 'the publishing password is in no plan');
    assert.ok(!plans.includes(redisPassword(l.lab)) && !plans.includes(chatPassword(l.lab)));
  });

  test('the .publishsettings: the ecosystem\'s XML with the node\'s WMSvc address, the site, the publishing user and its password (XML-escaped); written with mode 0600', async () => {
    const l = testLab();
    labs.push(l);
    const m = l.lab.spec.machines.find((x) => x.name === 'web2')!;
    l.lab.store.secrets.write('hyperv-publish-web2', 'Pw<&"\'>1x');
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(renderPublishSettings(l.lab, m));
    assert.equal(XMLValidator.validate(renderPublishSettings(l.lab, m)), true);
    const p = doc.publishData.publishProfile;
    assert.deepEqual(
      { publishMethod: p.publishMethod, publishUrl: p.publishUrl, msdeploySite: p.msdeploySite, userName: p.userName, userPWD: p.userPWD, destinationAppUrl: p.destinationAppUrl },
      { publishMethod: 'MSDeploy', publishUrl: '198.18.40.12:8172', msdeploySite: 'labctl-chat', userName: 'labctl-publish', userPWD: 'Pw<&"\'>1x', destinationAppUrl: 'http://198.18.40.12/' },
    );
    const step = l.provider.webSteps(l.lab, m, 'redis:redis:service')!.find((x) => x.id === 'web:web2:publishsettings')!;
    assert.equal(await step.check!({ log: () => {} } as never), false);
    await step.apply({ log: () => {} } as never);
    const file = publishSettingsPath(l.lab, 'web2');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(await step.check!({ log: () => {} } as never), true, 'a second run finds it written');
  });
});

describe('hyperv.installers', () => {
  test('a local file replaces the pinned download (used where it is, checked against its sha256); a url gets a cache name with its digest; the others stay pinned', async () => {
    const file = path.join(tmp, 'my-node.msi');
    writeFileSync(file, 'my own node installer\n');
    const digest = sha256(readFileSync(file));
    const l = testLab(`${SEED_SPEC}  installers:\n    node: { file: ${file}, sha256: ${digest.toUpperCase()} }\n    rewrite: { url: "https://example.invalid/dl/rewrite 2.1.msi", sha256: ${'d'.repeat(64)} }\n`);
    labs.push(l);
    const pkgs = webPackagesFor(l.lab.spec);
    const node = pkgs.find((p) => p.id === 'node')!;
    assert.deepEqual([node.localPath, node.file, node.sha256, node.check], [file, 'my-node.msi', digest, WEB_PACKAGES.find((p) => p.id === 'node')!.check]);
    assert.equal(packageHostPath(l.lab.home, node), file);
    assert.equal(await ensurePackage(l.lab.home, node), file);
    const rewrite = pkgs.find((p) => p.id === 'rewrite')!;
    assert.deepEqual([rewrite.url, rewrite.file, rewrite.localPath], ['https://example.invalid/dl/rewrite 2.1.msi', 'dddddddddddd-rewrite_2.1.msi', undefined]);
    assert.deepEqual(pkgs.find((p) => p.id === 'webdeploy'), WEB_PACKAGES.find((p) => p.id === 'webdeploy'));
    writeFileSync(file, 'someone changed it\n');
    await assert.rejects(ensurePackage(l.lab.home, node), /hyperv\.installers\.node: .*my-node\.msi has sha256 [0-9a-f]{64}, the spec says [0-9a-f]{64}/);
    rmSync(file);
    await assert.rejects(ensurePackage(l.lab.home, node), /hyperv\.installers\.node\.file: .*my-node\.msi does not exist/);
  });

  test('a relative file is taken from the spec file\'s folder', () => {
    const l = testLab(`${SEED_SPEC}  installers:\n    iisnode: { file: msi/iisnode.msi, sha256: ${'e'.repeat(64)} }\n`);
    labs.push(l);
    assert.equal(webPackagesFor(l.lab.spec).find((p) => p.id === 'iisnode')!.localPath, path.join(l.dir, 'msi', 'iisnode.msi'));
  });
});
