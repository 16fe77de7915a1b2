/**
 * The Ubuntu golden disk through the CLI on the simulated Hyper-V host (real PowerShell 7, the
 * bridge's namespaces): the first lab installs its Ubuntu VM from the ISO, generalizes it over
 * SSH (ubuntu-generalize.sh really runs, as root of a user namespace over the simulated disk's
 * files: see bridge.ts guestTools) and keeps its disk read-only in the image cache; a later lab's
 * Ubuntu VM gets a differencing disk over it and its own NoCloud seed, and is ready without the
 * installer. cache ls/prune --provider hyperv list it and refuse to remove it while a VM's disk
 * is its child; another ISO makes another golden disk; --no-cache installs from the ISO.
 * Needs root. Subnet 198.18.65.0/24 (test/helpers/README.md).
 *
 * The simulated install takes installSeconds (8 s here, not the ~10 minutes of a real one): the
 * difference measured below is the simulator's, and says which steps were skipped, not how long
 * a real host takes.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeResult } from '../helpers/cli.js';
import { FAST } from './fixtures.js';
import { machineLine, simSpecText, startSimLab, UBUNTU_ISO, type SimLab } from './lab-fixture.js';

const NET = '198.18.65';
const OTHER_ISO = 'C:\\labctl\\iso\\ubuntu-24.04.4-live-server-amd64.iso';
const INSTALL_SECONDS = 8;

/** The time labctl's step lines give the Ubuntu VM's own steps ("✓ redis: ... (2.4 s)"), added up: they run one after another. */
function redisStepsMs(stderr: string): number {
  let ms = 0;
  for (const m of stderr.matchAll(/✓ redis: .*\(([\d.]+) (ms|s|min)\)$/gm)) ms += Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
  return Math.round(ms);
}

const spec = (name: string, iso = UBUNTU_ISO) =>
  simSpecText({
    name,
    net: NET,
    machines: [machineLine('redis', 'redis', 'ubuntu', `${NET}.10`), machineLine('web1', 'web', 'windows', `${NET}.11`)],
  }).replace(UBUNTU_ISO, iso);

describe('the Ubuntu golden disk on a simulated Hyper-V host', { timeout: 1_200_000 }, () => {
  let lab: SimLab;
  const figures: Record<string, number> = {};
  const use = (name: string, iso?: string) => writeFileSync(lab.spec, spec(name, iso));
  const golden = () => (lab.host.read().disks as any[]).filter((d) => /ubuntu-golden-[0-9a-f]{16}\.vhdx$/.test(d.path));
  const diskOf = (machine: string) => {
    const v = lab.vm(machine);
    const id = readFileSync(lab.host.local(v.hardDisks[0].path), 'utf8').trim().split(' ')[1];
    return (lab.host.read().disks as any[]).find((d) => d.id === id);
  };
  const rootFile = (disk: any, rel: string) => path.join(lab.host.dir, 'disks', disk.id, '2', ...rel.split('/'));
  const timedCreate = async (name: string, args: string[] = []) => {
    const t0 = Date.now();
    const r = await lab.ok(['create', ...args], 300_000);
    figures[`${name}CreateMs`] = Date.now() - t0;
    figures[`${name}RedisStepsMs`] = redisStepsMs(r.stderr);
    figures[`${name}RedisSteps`] = (r.stderr.match(/✓ redis: /g) ?? []).length;
  };

  before(() => {
    lab = startSimLab({ lab: 'simgd', prefix: 'labctl-hvgold-', spec: spec('simgd'), timing: { ...FAST, installSeconds: INSTALL_SECONDS } });
    lab.host.putFile(OTHER_ISO, `LABCTL-SIM-ISO ubuntu-live-server ${JSON.stringify({ version: '24.04.4' })}\n`);
  });

  after(async () => {
    // every lab of this file used the same spec file and home: the last one is torn down here
    await lab?.dispose();
    console.log(`golden disk figures: ${JSON.stringify(figures)}`);
  });

  test('the first lab installs its Ubuntu VM, generalizes it and keeps its disk as the golden disk; the VM goes on from a child disk', async () => {
    await timedCreate('first');
    const [g, ...more] = golden();
    assert.ok(g, 'a golden disk in the image cache');
    assert.deepEqual(more, [], 'one golden disk');
    assert.match(g.path, /^C:\\labctl\\vms\\_cache\\ubuntu-golden-[0-9a-f]{16}\.vhdx$/);
    const file = lab.host.local(g.path);
    assert.equal(readFileSync(file, 'utf8').split(' ')[0], 'LABCTL-SIM-VHDX');
    // read-only: .NET on Linux maps the attribute to the write bits
    const mode = (await import('node:fs')).statSync(file).mode;
    assert.equal(mode & 0o222, 0, 'the golden disk is read-only');
    const note = JSON.parse(readFileSync(file.replace(/\.vhdx$/, '.json'), 'utf8').replace(/^\uFEFF/, ''));
    assert.deepEqual([note.lab, note.machine, note.iso], ['simgd', 'redis', UBUNTU_ISO]);
    assert.match(note.isoSha256, /^[0-9a-f]{64}$/);

    // generalized: what ubuntu-generalize.sh and cloud-init clean leave (on the golden disk's own files)
    assert.equal(readFileSync(rootFile(g, 'etc/machine-id'), 'utf8'), 'uninitialized\n');
    assert.ok(!existsSync(rootFile(g, 'etc/ssh/ssh_host_ed25519_key')), 'no SSH host key');
    assert.ok(!existsSync(rootFile(g, 'var/lib/cloud/instance')), 'no cloud-init instance');
    assert.ok(!existsSync(rootFile(g, 'var/lib/cloud/data/instance-id')), 'no cloud-init instance id');
    assert.ok(!existsSync(rootFile(g, 'etc/cloud/cloud.cfg.d/99-installer.cfg')), "no installer's cloud-init configuration");

    // the VM runs on a differencing disk over it, personalized by its own seed
    const child = diskOf('redis');
    assert.equal(child.type, 'Differencing');
    assert.equal(child.parentId, g.id);
    assert.match(readFileSync(rootFile(child, 'var/lib/cloud/data/instance-id'), 'utf8'), /^labctl-simgd-redis-/);
    const mid = readFileSync(rootFile(child, 'etc/machine-id'), 'utf8').trim();
    assert.match(mid, /^[0-9a-f]{32}$/, 'a machine-id of its own');
    assert.deepEqual(lab.vm('redis').dvds ?? [], [], 'the seed disc is out again');
    assert.equal((await lab.ok(['ssh', 'redis', '--', 'id', '-un'])).stdout.trim(), 'labctl');
    // a second create changes nothing
    const again = await lab.ok(['create', '--json']);
    assert.equal(JSON.parse(again.stdout).ok, true);
    assert.equal(golden().length, 1);
  });

  test('cache ls --provider hyperv lists the golden disk and the VM using it; prune refuses it, naming that VM', async () => {
    const ls = JSON.parse((await lab.ok(['cache', 'ls', '--json'])).stdout);
    assert.equal(ls.golden.length, 1);
    assert.deepEqual(ls.golden[0].usedBy.map((u: any) => u.vm), ['labctl-simgd-redis']);
    const prune = await lab.run(['cache', 'prune', '--all', '--json']);
    assert.equal(prune.code, 0, describeResult(prune));
    const body = JSON.parse(prune.stdout);
    assert.deepEqual(body.removed, []);
    assert.deepEqual(body.refused.map((r: any) => r.usedBy.map((u: any) => u.vm)), [['labctl-simgd-redis']]);
    const text = await lab.ok(['cache', 'prune', '--all']);
    assert.match(text.stdout, /kept C:\\labctl\\vms\\_cache\\ubuntu-golden-[0-9a-f]{16}\.vhdx: in use by labctl-simgd-redis \(Running\)/);
    assert.equal(golden().length, 1, 'still there');
  });

  test('teardown keeps the golden disk; the next lab\'s Ubuntu VM starts from a child of it without the installer', async () => {
    await lab.ok(['teardown', '--yes']);
    assert.equal(golden().length, 1, 'teardown keeps the golden disk');
    const children = lab.host.read().disks.filter((d: any) => d.parentId === golden()[0].id && existsSync(lab.host.local(d.path)));
    assert.deepEqual(children, [], 'its child went with the lab');

    use('simgd2');
    await timedCreate('fromGolden');
    const v = lab.vm('redis');
    assert.ok(!v.guest.installed, 'the installer never ran in this VM');
    assert.notEqual(v.guest.phase, 'installer');
    const child = diskOf('redis');
    assert.equal(child.type, 'Differencing');
    assert.equal(child.parentId, golden()[0].id);
    assert.match(readFileSync(rootFile(child, 'var/lib/cloud/data/instance-id'), 'utf8'), /^labctl-simgd2-redis-/);
    assert.equal((await lab.ok(['ssh', 'redis', '--', 'id', '-un'])).stdout.trim(), 'labctl');
    // its host key is the one labctl pinned for this lab (ssh above would have refused another)
  });

  test('another ISO is another key: its first lab installs and makes a second golden disk', async () => {
    await lab.ok(['teardown', '--yes']);
    use('simgd3', OTHER_ISO);
    await timedCreate('otherIso');
    assert.equal(golden().length, 2, 'a golden disk per ISO');
    assert.ok(lab.vm('redis').guest.installed, 'installed from the other ISO');
    const ls = JSON.parse((await lab.ok(['cache', 'ls', '--json'])).stdout);
    assert.deepEqual(ls.golden.map((e: any) => e.iso).sort(), [OTHER_ISO, UBUNTU_ISO].sort());
  });

  test('create --no-cache installs from the ISO with a disk of its own; prune --all then removes both golden disks, which no VM uses', async () => {
    await lab.ok(['teardown', '--yes']);
    use('simgd4');
    await timedCreate('noCache', ['--no-cache']);
    const disk = diskOf('redis');
    assert.equal(disk.type, 'Dynamic', 'its own disk, no parent');
    assert.ok(lab.vm('redis').guest.installed);
    assert.equal(golden().length, 2, 'no golden disk made or used');
    // the same Ubuntu VM from the ISO and from the golden disk: the golden disk skips the install's
    // steps (their times are printed, not asserted: the simulator's install time is a setting)
    assert.ok(
      figures.fromGoldenRedisSteps < figures.noCacheRedisSteps,
      `redis's steps from the golden disk (${figures.fromGoldenRedisSteps}) fewer than from the ISO (${figures.noCacheRedisSteps})`,
    );
    const prune = JSON.parse((await lab.ok(['cache', 'prune', '--all', '--json'])).stdout);
    assert.equal(prune.removed.length, 2, 'neither is in use by a VM');
    assert.equal(golden().filter((g) => existsSync(lab.host.local(g.path))).length, 0);
  });
});
