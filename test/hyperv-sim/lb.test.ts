/**
 * A Hyper-V lab with a load balancer (role lb: one more Ubuntu VM, through the same autoinstall
 * path as the Redis VM) through the CLI, as a user runs it, on the simulated host in real
 * PowerShell 7 with the bridge: create builds the lb VM (its own MAC, seed, install, boot, SSH
 * with its own pinned host key), status lists it; `deploy web1 lb` runs the Windows web role and
 * the lb role, whose HAProxy the bridge lets run in the lb VM's namespace; verify's checks
 * through the load balancer pass; a second deploy changes nothing; teardown leaves the host as
 * it was. Needs root. Subnet 198.18.64.0/24 (test/helpers/README.md).
 *
 * Where the simulation ends: the lb VM is a namespace with sshd, not Ubuntu. Its `sudo` is root
 * of a user namespace with the VM's own disk folders bound over /etc, /var and /run, and its
 * `systemctl` a stand-in for the haproxy unit (bridge.ts guestTools); HAProxy is this machine's
 * /usr/sbin/haproxy (the guest's /usr is this machine's), so `apt-get install haproxy` is never
 * needed here. Redis is Debian's redis-server started in the redis VM's namespace, as in
 * webdeploy.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REDIS_PASSWORD_SECRET } from '../../src/roles/redis/index.js';
import { CHAT_PASSWORD_SECRET, CHAT_USER, chatAclRules } from '../../src/roles/redis/acl.js';
import { generatePassword } from '../../src/state/secrets.js';
import { LabStore } from '../../src/state/store.js';
import { sleep } from './fixtures.js';
import { putMsdeploy, simMsi } from './guest-helpers.js';
import { hostShape, machineLine, simSpecText, startSimLab, type SimLab } from './lab-fixture.js';

const LAB = 'simlb';
const NET = '198.18.64';

describe('a Hyper-V lab with a load balancer VM on the simulated host', { timeout: 900_000 }, () => {
  let lab: SimLab;

  before(() => {
    lab = startSimLab({ lab: LAB, prefix: 'labctl-hvlb-', spec: '' });
    // the web role's installers: the simulator's stand-in MSIs, pinned by sha256 (as webdeploy.test.ts)
    mkdirSync(path.join(lab.dir, 'msi'));
    const installers = (['webdeploy', 'rewrite', 'node', 'iisnode'] as const).map((id) => {
      const file = path.join(lab.dir, 'msi', `${id}-sim.msi`);
      writeFileSync(file, simMsi(id));
      return `    ${id}: { file: ${file}, sha256: ${createHash('sha256').update(readFileSync(file)).digest('hex')} }`;
    });
    writeFileSync(
      lab.spec,
      simSpecText({
        name: LAB,
        net: NET,
        machines: [
          machineLine('redis', 'redis', 'ubuntu', `${NET}.10`),
          machineLine('web1', 'web', 'windows', `${NET}.11`),
          machineLine('lb', 'lb', 'ubuntu', `${NET}.5`),
        ],
        hyperv: ['  installers:', ...installers],
      }),
    );
  });

  after(async () => {
    await lab?.dispose();
  });

  test('plan lists the lb VM with the same Ubuntu steps as the Redis VM', async () => {
    const r = await lab.ok(['plan', '--json']);
    const ids: string[] = JSON.parse(r.stdout).steps.map((s: any) => s.id);
    const of = (m: string) => ids.filter((i) => i.includes(`:${m}:`)).map((i) => i.split(':').pop()).filter((x) => !/^(lb|redis|web)$/.test(x!));
    const ubuntu = of('redis').filter((s) => ['vm', 'disk', 'seed', 'installer', 'firmware', 'install', 'boot', 'ssh'].includes(s!));
    assert.ok(ubuntu.length >= 8, `the Redis VM's Ubuntu steps: ${ubuntu.join(', ')}`);
    for (const s of ubuntu) assert.ok(of('lb').includes(s), `the lb VM has the step ${s}: ${of('lb').join(', ')}`);
  });

  test('create installs the lb VM from the Ubuntu ISO as it does the Redis VM; SSH to it is real, with its own host key', async () => {
    await lab.ok(['create']);
    const s = lab.host.read();
    for (const m of ['redis', 'web1', 'lb']) {
      assert.equal(lab.vm(m, s)?.state, 'Running', `${m} runs`);
      assert.equal(lab.vm(m, s)?.guest?.phase, 'ready', `${m} is ready`);
    }
    const lb = lab.vm('lb', s);
    assert.equal(lb.guest.os, 'ubuntu');
    assert.equal(lb.firmware.template, 'MicrosoftUEFICertificateAuthority');
    assert.deepEqual(lb.dvds ?? [], [], 'installer and seed discs removed');
    assert.equal(lb.processorCount, 2);
    assert.notEqual(lb.adapters[0].mac, lab.vm('redis', s).adapters[0].mac);
    // the bridge gave it the address its seed's netplan matched to its MAC
    const who = await lab.ok(['ssh', 'lb', '--', 'id', '-un']);
    assert.equal(who.stdout.trim(), 'labctl');
    const st = JSON.parse((await lab.ok(['status', '--json'])).stdout);
    const lbStatus = st.machines.find((m: any) => m.name === 'lb');
    assert.deepEqual([lbStatus.role, lbStatus.state, lbStatus.address], ['lb', 'running', `${NET}.5`]);
  });

  test('deploy web1 lb: the lb role runs HAProxy in the lb VM (the guest\'s root over its own disk, this machine\'s haproxy); verify\'s checks through it pass', async () => {
    putMsdeploy(lab.host);
    // Redis as the role would leave it, in the redis VM's namespace (see webdeploy.test.ts: the
    // simulated Ubuntu VM cannot build it)
    const store = new LabStore(lab.home, LAB);
    const password = generatePassword(40);
    store.secrets.write(REDIS_PASSWORD_SECRET, password);
    const chat = generatePassword(40);
    store.secrets.write(CHAT_PASSWORD_SECRET, chat);
    const conf = path.join(lab.dir, 'redis.conf');
    writeFileSync(conf, `bind ${NET}.10\nport 6379\nrequirepass ${password}\nuser ${CHAT_USER} on ${chatAclRules('ChatApp', chat)}\nprotected-mode yes\nsave ""\nappendonly no\ndir ${lab.dir}\n`, { mode: 0o600 });
    const redis = lab.bridge.spawnIn(`labctl-${LAB}-redis`, ['redis-server', conf]);
    await sleep(300);
    assert.ok(lab.bridge.alive(redis), 'redis-server runs in the redis VM\'s namespace');

    const d = await lab.ok(['deploy', 'web1', 'lb', '--json'], 600_000);
    const applied: string[] = JSON.parse(d.stdout).applied;
    assert.ok(applied.includes('lb:lb:config') && applied.includes('lb:lb:service'), applied.join(', '));
    const root = lab.vm('lb').guest.rootDir as string;
    assert.match(readFileSync(path.join(root, 'etc', 'haproxy', 'haproxy.cfg'), 'utf8'), /server web1 198\.18\.64\.11:80/);

    const v = await lab.run(['verify', '--json', '--clients', '2', '--messages', '4'], 300_000);
    const report = JSON.parse(v.stdout);
    const by = Object.fromEntries(report.checks.map((c: any) => [c.name, c]));
    assert.equal(by['clients through the load balancer reach every web node']?.ok, true, JSON.stringify(by['clients through the load balancer reach every web node']));
    assert.equal(by["clients through the load balancer see each other's messages"]?.ok, true, JSON.stringify(by["clients through the load balancer see each other's messages"]));
    const again = await lab.ok(['deploy', 'web1', 'lb', '--json'], 600_000);
    assert.deepEqual(JSON.parse(again.stdout).applied, [], 'a second deploy changes nothing');
  });

  test('teardown removes the lb VM with the rest and leaves the host as it was', async () => {
    await lab.ok(['teardown', '--yes']);
    assert.deepEqual(hostShape(lab.host.read()), lab.pristine);
  });
});
