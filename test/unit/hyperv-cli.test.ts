/**
 * The hyperv provider from the outside, on this Linux machine: `labctl plan --provider
 * hyperv` (text and --json) with no PowerShell anywhere, `validate`, and what create says
 * here. Plus the serial-console tap, against a Unix socket standing in for Hyper-V's pipe,
 * and status / access through the fake host.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { consoleTail, pipeConsoleTap } from '../../src/providers/hyperv/console.js';
import { runSteps } from '../../src/engine/runner.js';
import { describeResult, runCli } from '../helpers/cli.js';
import { lintPowerShell } from './hyperv-pslint.js';
import { SEED_SPEC, testLab } from './hyperv-fakes.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'labctl-hvc-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const home = path.join(tmp, 'home');

describe('labctl plan --provider hyperv (no PowerShell here)', () => {
  test('--json gives {steps:[{id, machine, script, params}]} for every host script, and creates nothing', async () => {
    const r = await runCli(['plan', '--provider', 'hyperv', '--json', '--home', home]);
    assert.equal(r.code, 0, describeResult(r));
    const out = JSON.parse(r.stdout) as { provider: string; steps: { id: string; machine: string | null; script?: string; params?: Record<string, unknown>; status: string }[] };
    assert.equal(out.provider, 'hyperv');
    const scripted = out.steps.filter((s) => s.script);
    assert.ok(scripted.length >= 25, `${scripted.length} scripted steps`);
    for (const s of scripted) {
      assert.equal(typeof s.id, 'string');
      assert.ok('machine' in s);
      assert.ok(s.params && typeof s.params === 'object');
      assert.ok(existsSync(path.resolve(s.script!)), `${s.script} missing`);
      const { problems } = await lintPowerShell(readFileSync(path.resolve(s.script!), 'utf8'), s.script!);
      assert.deepEqual(problems, []);
      assert.equal(s.status, 'todo');
    }
    const ids = scripted.map((s) => s.id);
    for (const id of ['hyperv:net:switch', 'hyperv:net:nat', 'machine:redis:vm', 'machine:redis:install', 'machine:web1:unattend', 'machine:web2:ready']) assert.ok(ids.includes(id), `${id} missing`);
    assert.equal(scripted.find((s) => s.id === 'machine:redis:vm')!.machine, 'redis');
    assert.ok(!JSON.stringify(out).match(/"Password":"(?!<secret)/), 'a password in the plan');
    assert.equal(existsSync(path.join(home, 'labs', 'signalr-redis', 'state.json')), false, 'plan wrote a state file');
  });

  test('text form shows each script with its parameters', async () => {
    const r = await runCli(['plan', '--provider', 'hyperv', '--home', home]);
    assert.equal(r.code, 0, describeResult(r));
    assert.match(r.stdout, /templates\/hyperv\/new-vm\.ps1 -Name 'labctl-signalr-redis-redis' -Path 'C:\\labctl\\vms\\signalr-redis'/);
    assert.match(r.stdout, /templates\/hyperv\/set-firmware\.ps1 .*-SecureBootTemplate 'MicrosoftUEFICertificateAuthority'/);
  });

  test('create here stops at preflight with exit 2 and says where it runs', async () => {
    const r = await runCli(['create', '--provider', 'hyperv', '--home', home]);
    assert.equal(r.code, 2, describeResult(r));
    assert.match(r.stderr, /runs on Windows with Hyper-V/);
  });

  test('validate names a bad hyperv block, exit 2', async () => {
    const file = path.join(tmp, 'bad.yaml');
    writeFileSync(file, SEED_SPEC.replace(/  ubuntuIso: .*\n/, ''));
    const r = await runCli(['validate', '--provider', 'hyperv', '--spec', file]);
    assert.equal(r.code, 2, describeResult(r));
    assert.match(r.stdout, /hyperv\.ubuntuIso: is required for redis/);
  });
});

describe('serial console tap', () => {
  test('copies what the pipe sends into the log, reconnects when the VM restarts, stops cleanly', async () => {
    const socket = path.join(tmp, 'com1.sock');
    const log = path.join(tmp, 'machines', 'redis', 'console.log');
    const connections: net.Socket[] = [];
    const server = net.createServer((c) => connections.push(c));
    await new Promise<void>((r) => server.listen(socket, r));
    const tap = pipeConsoleTap(socket, log, 50);
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(cond());
    };
    try {
      await until(() => connections.length === 1);
      connections[0]!.write('\x1b[0mUbuntu 24.04 installer\r\n');
      await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('installer'));
      connections[0]!.destroy(); // the VM powers off: the pipe goes away
      await until(() => connections.length === 2);
      connections[1]!.write('Ubuntu 24.04 LTS redis ttyS0\r\n');
      await until(() => readFileSync(log, 'utf8').includes('ttyS0'));
      assert.deepEqual(consoleTail(log), ['Ubuntu 24.04 installer', 'Ubuntu 24.04 LTS redis ttyS0']);
    } finally {
      tap.stop();
      await new Promise((r) => setTimeout(r, 150));
      server.close();
    }
    assert.equal(connections.length, 2, 'reconnected after stop');
  });

  test('no pipe yet (VM off): keeps trying without throwing', async () => {
    const tap = pipeConsoleTap(path.join(tmp, 'absent.sock'), path.join(tmp, 'x.log'), 20);
    await new Promise((r) => setTimeout(r, 100));
    tap.stop();
    assert.deepEqual(consoleTail(path.join(tmp, 'x.log')), []);
  });
});

describe('status and access on the fake host', () => {
  test('status reads each VM; access gives SSH as labctl with sudo, and refuses Windows machines', async () => {
    const l = testLab();
    try {
      const before = await l.provider.status(l.lab);
      assert.deepEqual(
        before.map((m) => `${m.name} ${m.state}`),
        ['redis missing', 'web1 missing', 'web2 missing'],
      );
      await runSteps(l.provider.createSteps(l.lab), { store: l.lab.store, concurrency: 1 });
      const now = await l.provider.status(l.lab);
      assert.deepEqual(now.map((m) => `${m.name} ${m.state}`), ['redis running', 'web1 running', 'web2 running']);
      assert.match(now[0]!.detail!, /heartbeat OkApplicationsHealthy/);
      const access = l.provider.access(l.lab, l.lab.spec.machines[0]!);
      assert.equal(access.asRoot?.('sh -s -- a'), 'sudo -n sh -s -- a');
      assert.equal(access.services, 'systemd');
      assert.equal(access.standIn, false);
      await access.guardRoute?.();
      l.host.switches.clear();
      await assert.rejects(access.guardRoute!(), /not reached through the lab switch/);
      assert.throws(() => l.provider.access(l.lab, l.lab.spec.machines[1]!), /PowerShell Direct/);
    } finally {
      l.cleanup();
    }
  });
});
