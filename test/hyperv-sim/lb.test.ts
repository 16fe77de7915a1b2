/**
 * A Hyper-V lab with a load balancer (role lb: one more Ubuntu VM, through the same autoinstall
 * path as the Redis VM) through the CLI, as a user runs it, on the simulated host in real
 * PowerShell 7 with the bridge: create builds the lb VM (its own MAC, seed, install, boot, SSH
 * with its own pinned host key), status lists it, teardown leaves the host as it was. Needs
 * root. Subnet 198.18.64.0/24 (test/helpers/README.md).
 *
 * Where the simulation ends: the lb VM is a namespace with sshd, not Ubuntu (no apt, systemd or
 * sudo), so the lb role's deploy (apt-get install haproxy, systemctl reload-or-restart) and
 * verify's checks through the load balancer do not run here; test/netns/lb.test.ts runs the same
 * role and checks with the real HAProxy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hostShape, machineLine, simSpecText, startSimLab, type SimLab } from './lab-fixture.js';

const LAB = 'simlb';
const NET = '198.18.64';

describe('a Hyper-V lab with a load balancer VM on the simulated host', { timeout: 900_000 }, () => {
  let lab: SimLab;

  before(() => {
    lab = startSimLab({
      lab: LAB,
      prefix: 'labctl-hvlb-',
      spec: simSpecText({
        name: LAB,
        net: NET,
        machines: [
          machineLine('redis', 'redis', 'ubuntu', `${NET}.10`),
          machineLine('web1', 'web', 'windows', `${NET}.11`),
          machineLine('lb', 'lb', 'ubuntu', `${NET}.5`),
        ],
      }),
    });
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

  test('teardown removes the lb VM with the rest and leaves the host as it was', async () => {
    await lab.ok(['teardown', '--yes']);
    assert.deepEqual(hostShape(lab.host.read()), lab.pristine);
  });
});
