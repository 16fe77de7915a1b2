/**
 * What the hyperv provider says about a spec (any OS, no host) and about a host (preflight
 * facts as preflight.ps1 reports them): one line per problem, each saying what to do.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HypervProvider } from '../../src/providers/hyperv/index.js';
import { hypervConfig } from '../../src/providers/hyperv/config.js';
import { macAddress } from '../../src/providers/hyperv/names.js';
import { preflightProblems, type HostFacts } from '../../src/providers/hyperv/preflight.js';
import { parseSpec } from '../../src/spec/load.js';
import { PreflightError } from '../../src/util/errors.js';
import { SEED_SPEC, testLab } from './hyperv-fakes.js';

const spec = (text: string) => parseSpec(text, '/tmp/lab.yaml');
const problems = (text: string) => new HypervProvider({ platform: 'linux' }).validate(spec(text)).map((p) => `${p.field}: ${p.message}`);

describe('validate (hyperv)', () => {
  test('the seed lab and the test spec are valid', () => {
    assert.deepEqual(problems(SEED_SPEC), []);
  });

  test('names what is missing or wrong, field by field', () => {
    const bad = SEED_SPEC.replace(/  ubuntuIso: .*\n/, '')
      .replace('windowsIso: C:\\iso\\windows-server-2022.iso', 'windowsIso: ./relative.iso\n  switch: Default Switch\n  dns: [1.2.3.4, nope]')
      .replace('memory: 2GB, disk: 20GB', 'memory: 1001MB, disk: 4GB')
      .replace('network: { subnet: 198.18.40.0/24 }', 'network: { subnet: 198.18.40.0/24, nat: false }');
    const got = problems(bad);
    const expect = [
      /^hyperv\.ubuntuIso: is required for redis/,
      /^hyperv\.windowsIso: must be an absolute Windows path/,
      /^hyperv\.switch: labctl never uses the Default Switch/,
      /^hyperv\.dns\.1: "nope" is not an IPv4 address/,
      /^network\.nat: must not be false on hyperv/,
      /^machines\.redis\.memory: must be a multiple of 2MB/,
      /^machines\.redis\.memory: must be at least 2GB/,
      /^machines\.redis\.disk: must be at least 8GB/,
    ];
    for (const e of expect) assert.ok(got.some((g) => e.test(g)), `${e} not in:\n${got.join('\n')}`);
    assert.equal(got.length, expect.length, got.join('\n'));
  });

  test('no hyperv block at all', () => {
    assert.deepEqual(problems(SEED_SPEC.replace(/hyperv:[\s\S]*$/, '')), [
      'hyperv: the hyperv provider needs a hyperv: block (ubuntuIso, and windowsImage or windowsIso); see docs/hyperv.md',
    ]);
  });

  test('windows machines need an image, and only one kind', () => {
    assert.match(problems(SEED_SPEC.replace(/  windowsIso: .*\n/, '')).join('\n'), /hyperv\.windowsImage: web1, web2 run Windows/);
    assert.match(problems(SEED_SPEC.replace('vmPath:', 'windowsImage: C:\\img\\base.vhdx\n  vmPath:')).join('\n'), /give windowsImage or windowsIso, not both/);
  });

  test('MACs are fixed per lab and machine, in the Hyper-V range, and differ', () => {
    assert.equal(macAddress('signalr-redis', 'redis'), macAddress('signalr-redis', 'redis'));
    assert.notEqual(macAddress('signalr-redis', 'redis'), macAddress('signalr-redis', 'web1'));
    assert.notEqual(macAddress('a', 'redis'), macAddress('b', 'redis'));
    assert.match(macAddress('x', 'y'), /^00155D[0-9A-F]{6}$/);
  });
});

function facts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    windows: 'Windows Server 2022',
    build: '20348',
    elevated: true,
    hyperVModule: true,
    vmms: 'Running',
    freeMemoryBytes: 64 * 2 ** 30,
    vmPathRoot: 'C:\\',
    vmPathFreeBytes: 500 * 2 ** 30,
    labRootExists: false,
    files: [
      { path: 'C:\\iso\\ubuntu-24.04-live-server-amd64.iso', exists: true },
      { path: 'C:\\iso\\windows-server-2022.iso', exists: true },
    ],
    switches: [{ name: 'Default Switch', type: 'Internal', notes: '' }],
    vms: [],
    macsInUse: [],
    nats: [],
    addresses: [{ ip: '192.0.2.10', prefix: 24, alias: 'Ethernet', ifIndex: 4 }],
    routes: [],
    ...over,
  };
}

describe('preflight (hyperv)', () => {
  const s = spec(SEED_SPEC);
  const cfg = hypervConfig(s);
  const check = (f: HostFacts, owned = [] as Parameters<typeof preflightProblems>[3]) => preflightProblems(f, s, cfg, owned);

  test('a ready host has no problems', () => {
    assert.deepEqual(check(facts()), []);
  });

  test('each problem is one line with its fix', () => {
    const got = check(
      facts({
        elevated: false,
        vmms: 'Stopped',
        freeMemoryBytes: 4 * 2 ** 30,
        vmPathFreeBytes: 2 * 2 ** 30,
        labRootExists: true,
        files: [
          { path: 'C:\\iso\\ubuntu-24.04-live-server-amd64.iso', exists: false },
          { path: 'C:\\iso\\windows-server-2022.iso', exists: true },
        ],
        switches: [{ name: 'labctl-hvtest', type: 'Internal', notes: 'made by hand' }],
        vms: [{ name: 'labctl-hvtest-web1', notes: '', state: 'Off' }],
        macsInUse: [{ mac: macAddress('hvtest', 'web2'), vm: 'somebody' }],
        nats: [{ name: 'WinNAT', prefix: '198.18.0.0/16' }],
        addresses: [{ ip: '198.18.40.77', prefix: 24, alias: 'Wi-Fi', ifIndex: 7 }],
        routes: [{ prefix: '198.18.40.0/25', alias: 'VPN', ifIndex: 12 }],
      }),
    );
    const expect = [
      /not elevated: run it from a terminal opened with "Run as administrator"/,
      /vmms\) is Stopped: Start-Service vmms/,
      /hyperv\.ubuntuIso .* does not exist: download/,
      /need 10\.0 GB of memory and the host has 4\.0 GB free/,
      /has 2\.0 GB free and the lab needs about .* free some space or set hyperv\.vmPath/,
      /the folder C:\\labctl\\vms\\hvtest exists and this lab did not create it/,
      /a switch named labctl-hvtest exists and labctl did not create it/,
      /a VM named labctl-hvtest-web1 exists and labctl did not create it/,
      /VM somebody uses the MAC address .* that labctl gives web2/,
      /overlaps NAT WinNAT \(198\.18\.0\.0\/16\)/,
      /overlaps 198\.18\.40\.77\/24 on Wi-Fi/,
      /overlaps the route 198\.18\.40\.0\/25 via VPN/,
    ];
    for (const e of expect) assert.ok(got.some((g) => e.test(g)), `${e} not in:\n${got.join('\n')}`);
    assert.equal(got.length, expect.length, got.join('\n'));
    for (const line of got) assert.ok(!line.includes('\n'), 'one line each');
  });

  test('what the lab already owns is not a conflict on a re-run', () => {
    const owned = [
      { kind: 'hyperv-dir', id: 'C:\\labctl\\vms\\hvtest', at: '' },
      { kind: 'hyperv-nat', id: 'labctl-hvtest', data: { prefix: '198.18.40.0/24' }, at: '' },
      { kind: 'hyperv-vm', id: 'labctl-hvtest-redis', at: '' },
    ];
    assert.deepEqual(
      check(
        facts({
          labRootExists: true,
          switches: [{ name: 'labctl-hvtest', type: 'Internal', notes: 'labctl:hvtest\nCreated by labctl' }],
          vms: [{ name: 'labctl-hvtest-redis', notes: 'labctl:hvtest:redis\n...', state: 'Running' }],
          nats: [{ name: 'labctl-hvtest', prefix: '198.18.40.0/24' }],
          addresses: [{ ip: '198.18.40.1', prefix: 24, alias: 'vEthernet (labctl-hvtest)', ifIndex: 9 }],
        }),
        owned,
      ),
      [],
    );
  });

  test('through the provider: exit-2 error listing every line, after asking the host once', async () => {
    const l = testLab();
    try {
      l.host.elevated = false;
      l.host.freeMemoryBytes = 2 ** 30;
      await assert.rejects(l.provider.preflight(l.lab), (err: unknown) => {
        assert.ok(err instanceof PreflightError);
        assert.equal(err.exitCode, 2);
        assert.match(err.message, /not elevated/);
        assert.match(err.details.join('\n'), /of memory/);
        return true;
      });
      assert.deepEqual(l.host.scripts(), ['preflight.ps1']);
    } finally {
      l.cleanup();
    }
  });

  test('without Windows: preflight says where the provider runs', async () => {
    const p = new HypervProvider({ platform: 'linux' });
    const s2 = spec(SEED_SPEC);
    await assert.rejects(p.preflight({ spec: s2, store: undefined as never, home: '/tmp' }), /runs on Windows with Hyper-V/);
  });
});
