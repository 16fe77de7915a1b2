/**
 * The Windows web role end to end through the CLI, as a user runs it (labctl as a child
 * process), on the simulated Hyper-V host in real PowerShell 7 with the bridge giving the booted
 * VMs real namespaces: `labctl create`, then `labctl deploy web1 web2` (IIS, WMSvc, the four
 * installers from hyperv.installers — the simulator's stand-in MSIs, pinned by sha256 —, the
 * site and its publishing user, each node's .publishsettings, and the app published with
 * msdeploy.exe on the host through each VM's Web Management Service), then `labctl verify`:
 * the bridge runs the published app (node with web.config's appSettings) and WMSvc's 8172 in
 * each web VM's namespace, so the chat really crosses web1 and web2. Needs root (namespaces).
 * Subnet 198.18.62.0/24 (test/helpers/README.md).
 *
 * Redis: the Ubuntu VM here is a namespace with sshd, not Ubuntu (no systemd, apt or ufw), so
 * labctl's Redis role cannot run on it. The test starts Debian's redis-server (installed by
 * scripts/install-system-deps.sh) inside the redis VM's namespace, bound to its address, with
 * the password the role would have generated (written into the lab's secrets first, as the
 * role's redis_password) and the role's `chat` user for the chat servers (redis_chat_password). verify's "Redis is the build from source" therefore fails, honestly:
 * that redis-server is /usr/bin/redis-server, not the build under the role's prefix. Every other
 * check passes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { REDIS_PASSWORD_SECRET } from '../../src/roles/redis/index.js';
import { CHAT_PASSWORD_SECRET, CHAT_USER, chatAclRules } from '../../src/roles/redis/acl.js';
import { generatePassword } from '../../src/state/secrets.js';
import { LabStore } from '../../src/state/store.js';
import { describeResult, type CliResult } from '../helpers/cli.js';
import type { SimNetworkBridge } from './bridge.js';
import { FAST, sleep } from './fixtures.js';
import { MSDEPLOY, putMsdeploy, simMsi } from './guest-helpers.js';
import type { SimHost } from './host.js';
import { hostShape, machineLine, simSpecText, startSimLab, type SimLab } from './lab-fixture.js';

const LAB = 'simwd';
const REDIS_IP = '198.18.62.10';

describe('the web role through the CLI: create, deploy with Web Deploy, verify, teardown', { timeout: 1_200_000 }, () => {
  let lab: SimLab;
  let host: SimHost;
  let bridge: SimNetworkBridge;
  let dir: string;
  let home: string;
  let pristine: unknown;
  const run = (args: string[], timeoutMs = 300_000): Promise<CliResult> => lab.run(args, timeoutMs);
  const json = (r: CliResult): any => {
    try {
      return JSON.parse(r.stdout);
    } catch {
      throw new Error(`not JSON: ${describeResult(r)}`);
    }
  };
  const guest = (machine: string) => host.read().vms.find((v: any) => v.name === `labctl-${LAB}-${machine}`)?.guest;

  before(() => {
    lab = startSimLab({ lab: LAB, prefix: 'labctl-hvwd-', spec: '', timing: { ...FAST, msiSeconds: 0.2 } });
    ({ host, bridge, dir, home, pristine } = lab);
    // the installers: the simulator's stand-in MSIs as the user's own copies (hyperv.installers),
    // each with its sha256, so nothing is downloaded
    mkdirSync(path.join(dir, 'msi'));
    const installers = (['webdeploy', 'rewrite', 'node', 'iisnode'] as const).map((id) => {
      const file = path.join(dir, 'msi', `${id}-sim.msi`);
      writeFileSync(file, simMsi(id));
      return `    ${id}: { file: ${file}, sha256: ${createHash('sha256').update(readFileSync(file)).digest('hex')} }`;
    });
    writeFileSync(
      lab.spec,
      simSpecText({
        name: LAB,
        net: '198.18.62',
        machines: [machineLine('redis', 'redis', 'ubuntu', REDIS_IP), machineLine('web1', 'web', 'windows', '198.18.62.11'), machineLine('web2', 'web', 'windows', '198.18.62.12')],
        hyperv: ['  installers:', ...installers],
      }),
    );
  });

  after(async () => {
    // whatever a failed test left: labctl's own teardown first, then the bridge (it kills what
    // runs in the namespaces), even when dist/ is stale
    await lab?.dispose();
  });

  test('create builds the lab', async () => {
    const r = await run(['create']);
    assert.equal(r.code, 0, `${describeResult(r)}\nbridge: ${bridge.problems.join('; ') || 'no problem'}`);
  });

  test('deploy without Web Deploy on the host stops before changing anything, with the msiexec line to install it or hyperv.publish: copy', async () => {
    assert.ok(!existsSync(host.local(MSDEPLOY)));
    const before = [guest('web1'), guest('web2')];
    const r = await run(['deploy', 'web1', 'web2']);
    assert.equal(r.code, 2, describeResult(r));
    const line = r.stderr.split('\n').find((l) => /Web Deploy is not installed on this host/.test(l));
    assert.ok(line, describeResult(r));
    assert.match(line!, /msiexec \/i ".*webdeploy-sim\.msi" ADDLOCAL=MSDeployFeature \/qn \/norestart/, 'the exact line, with the MSI labctl has (here the spec\'s own copy)');
    assert.match(line!, /hyperv\.publish: copy/);
    assert.match(line!, /C:\\Program Files\\IIS\\Microsoft Web Deploy V3\\msdeploy\.exe/);
    assert.deepEqual([guest('web1'), guest('web2')], before, 'nothing changed in the guests');
  });

  test('deploy web1 web2 publishes with Web Deploy: each node\'s .publishsettings (0600) is written and printed; msdeploy ran with no credentials on its command line', async () => {
    putMsdeploy(host);
    // Redis as the role would leave it (see the comment at the top): the lab's password, the VM's address
    const store = new LabStore(home, LAB);
    const password = generatePassword(40);
    store.secrets.write(REDIS_PASSWORD_SECRET, password);
    // and the chat servers' own user, as the role's redis.conf has it
    const chat = generatePassword(40);
    store.secrets.write(CHAT_PASSWORD_SECRET, chat);
    const conf = path.join(dir, 'redis.conf');
    writeFileSync(conf, `bind ${REDIS_IP}\nport 6379\nrequirepass ${password}\nuser ${CHAT_USER} on ${chatAclRules('ChatApp', chat)}\nprotected-mode yes\nsave ""\nappendonly no\ndir ${dir}\n`, { mode: 0o600 });
    const redis = bridge.spawnIn(`labctl-${LAB}-redis`, ['redis-server', conf]);
    await sleep(300);
    assert.ok(bridge.alive(redis), 'redis-server runs in the redis VM\'s namespace');

    const r = await run(['deploy', 'web1', 'web2']);
    assert.equal(r.code, 0, describeResult(r));
    for (const m of ['web1', 'web2']) {
      const file = path.join(home, 'labs', LAB, 'machines', m, `${m}.publishsettings`);
      assert.ok(r.stdout.includes(`${m}: ${file}`), `deploy prints where ${m}'s publish settings are: ${r.stdout}`);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const p = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(readFileSync(file, 'utf8')).publishData.publishProfile;
      const ip = m === 'web1' ? '198.18.62.11' : '198.18.62.12';
      assert.deepEqual(
        [p.publishMethod, p.publishUrl, p.msdeploySite, p.userName, p.destinationAppUrl],
        ['MSDeploy', `${ip}:8172`, 'labctl-chat', 'labctl-publish', `http://${ip}/`],
      );
      assert.equal(p.userPWD, store.secrets.read(`hyperv-publish-${m}`), 'the publishing user\'s password, kept in the lab\'s secrets');
      const g = guest(m);
      assert.deepEqual(g.users['labctl-publish'].groups, ['Users'], 'the publishing user is not an administrator');
      assert.deepEqual(g.iis.authorization.map((a: any) => [a.path, a.name]), [['labctl-chat', `${m.toUpperCase()}\\labctl-publish`]]);
      assert.deepEqual(g.acl['c:\\labctl\\site'].grants.map((x: any) => `${x.account}:${x.inherit}:${x.rights}`), ['labctl-publish:OI,CI:M']);
      assert.equal(g.iis.sites.find((s: any) => s.name === 'labctl-chat').physicalPath, 'C:\\labctl\\site');
    }
    const runs = host.read().host.msdeploy.runs as { commandLine: string; exitCode: number }[];
    assert.equal(runs.length, 2, 'msdeploy.exe ran once per node');
    const secrets = [store.secrets.read('hyperv-publish-web1'), store.secrets.read('hyperv-publish-web2')];
    for (const x of runs) {
      assert.equal(x.exitCode, 0);
      assert.match(x.commandLine, /-dest:contentPath="labctl-chat",publishSettings=".*\.publishsettings"/);
      assert.ok(!/password|userPWD|userName|computerName/i.test(x.commandLine), `no credentials on the command line: ${x.commandLine}`);
      for (const s of secrets) assert.ok(!x.commandLine.includes(s));
    }
  });

  test('verify: the chat crosses web1 and web2 through that Redis (delivery, backplane, WebSocket), WMSvc answers 401 on 8172, each node runs the build labctl made; only the checks that need labctl\'s own Redis build fail', async () => {
    const r = await run(['verify', '--json', '--clients', '2', '--messages', '10'], 180_000);
    const report = json(r);
    const by = Object.fromEntries(report.checks.map((c: any) => [c.name, c]));
    const failed = report.checks.filter((c: any) => !c.ok).map((c: any) => c.name);
    // the redis-server here is Debian's, not the role's build (see the top of this file)
    assert.deepEqual(failed, ['Redis is the build from source'], JSON.stringify(report.checks, null, 1));
    assert.equal(r.code, 1, 'verify fails as long as one check does');
    for (const m of ['web1', 'web2']) {
      assert.equal(by[`${m} serves the chat page`].ok, true);
      assert.equal(by[`${m} upgrades to WebSocket`].ok, true);
      assert.match(by[`${m} Web Management Service answers on 8172 and wants credentials`].reason, /→ 401, certificate WMSvc-SHA2-WEB\d \(self-signed\)/);
      assert.match(by[`${m} runs the chat app labctl built`].reason, /= sha256 of dist\/app\/server\.cjs/);
    }
    assert.equal(by['Redis requires its password'].ok, true);
    assert.equal(by['messages reach every client on every node'].ok, true);
    assert.equal(by['backplane carries the messages'].ok, true);
    assert.equal(report.delivery.lost, 0);
    assert.ok(report.backplane.origins.includes('web1') && report.backplane.origins.includes('web2'));
  });

  test('another build published to web1 (as a developer does from Visual Studio with the .publishsettings) is reported by verify; deploy web1 publishes labctl\'s back', async () => {
    const c = guest('web1').drives.C as string;
    const file = path.join(c, 'labctl', 'site', 'server.cjs');
    const original = readFileSync(file);
    const build = async () => (await (await fetch('http://198.18.62.11/healthz', { signal: AbortSignal.timeout(2000) })).json()).build as string;
    const labctlBuild = await build();
    writeFileSync(file, Buffer.concat([original, Buffer.from('\n// a developer\'s own build\n')]));
    // iisnode restarts node when a watched file changes (web.config's watchedFiles): the bridge does too
    const deadline = Date.now() + 20_000;
    let now = labctlBuild;
    while (Date.now() < deadline && (now === labctlBuild || !now)) {
      await sleep(200);
      now = await build().catch(() => '');
    }
    assert.notEqual(now, labctlBuild, 'web1 runs the new build');
    const bad = json(await run(['verify', '--json', '--clients', '1', '--messages', '2'], 180_000));
    const check = bad.checks.find((x: any) => x.name === 'web1 runs the chat app labctl built');
    assert.equal(check.ok, false);
    assert.match(check.reason, /^web1 runs build [0-9a-f]{12}, labctl built [0-9a-f]{12} \(dist\/app\/server\.cjs\): run labctl deploy web1$/);

    const runs = host.read().host.msdeploy.runs.length;
    const r = await run(['deploy', 'web1', '--json']);
    assert.equal(r.code, 0, describeResult(r));
    assert.ok(json(r).applied.includes('web:web1:app'), 'the app step found the site\'s files changed');
    const last = host.read().host.msdeploy.runs.slice(runs);
    assert.deepEqual(last.map((x: any) => x.summary.replace(/\d+ bytes/, 'N bytes')), ['Total changes: 1 (0 added, 0 deleted, 1 updated, 0 parameters changed, N bytes copied)']);
    assert.deepEqual(readFileSync(file), original);
    const good = json(await run(['verify', '--json', '--clients', '1', '--messages', '2'], 180_000));
    assert.equal(good.checks.find((x: any) => x.name === 'web1 runs the chat app labctl built').ok, true);
  });

  test('a second deploy web1 web2 changes nothing', async () => {
    const runs = host.read().host.msdeploy.runs.length;
    const r = await run(['deploy', 'web1', 'web2', '--json']);
    assert.equal(r.code, 0, describeResult(r));
    assert.deepEqual(json(r).applied, []);
    assert.equal(host.read().host.msdeploy.runs.length, runs, 'msdeploy.exe did not run again');
  });

  test('teardown leaves the host as it was', async () => {
    const r = await run(['teardown', '--yes']);
    assert.equal(r.code, 0, describeResult(r));
    const now = hostShape(host.read()) as any;
    assert.deepEqual(now, pristine);
  });
});
