/**
 * Lab specs: the default spec is valid; every kind of bad spec is refused by `labctl validate`
 * with exit code 2 and one `FILE:field: what is wrong` line per problem (YAML syntax errors as
 * `FILE:LINE:COL: ...`), never a stack trace; a bad spec never creates anything.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { captureOutput, describeResult, hasStackTrace, REPO_ROOT, runCli } from '../helpers/cli.js';
import { loadSpec } from '../../src/spec/load.js';
import { SpecError } from '../../src/util/errors.js';

const DEFAULT_SPEC = path.join(REPO_ROOT, 'vm-specs/signalr-redis.yaml');
const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-spec-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A valid spec as an object; cases edit a fresh copy. */
function base(): Record<string, any> {
  return {
    name: 'spec-test',
    network: { subnet: '198.18.20.0/24' },
    redis: { version: '7.0.15', port: 6379 },
    app: { port: 80 },
    machines: {
      redis: { role: 'redis', os: 'ubuntu', ip: '198.18.20.10' },
      web1: { role: 'web', os: 'windows', ip: '198.18.20.11' },
      web2: { role: 'web', os: 'windows', ip: '198.18.20.12' },
    },
  };
}

let counter = 0;
function writeSpec(name: string, content: string | ((s: Record<string, any>) => void)): string {
  const file = path.join(dir, `${String(++counter).padStart(2, '0')}-${name}.yaml`);
  if (typeof content === 'string') writeFileSync(file, content);
  else {
    const spec = base();
    content(spec);
    writeFileSync(file, stringify(spec));
  }
  return file;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const LINE = '\\(line \\d+\\)';

interface BadCase {
  name: string;
  spec: string | ((s: Record<string, any>) => void);
  /** each problem line after "FILE:" (regex source), in order; the output must be exactly these */
  problems: string[];
}

const cases: BadCase[] = [
  {
    name: 'yaml syntax error (tab indentation)',
    spec: 'name: spec-test\nnetwork:\n\tsubnet: 198.18.20.0/24\n',
    problems: ['3:1: YAML syntax error: Tabs are not allowed as indentation'],
  },
  {
    name: 'yaml syntax error (unclosed flow mapping)',
    spec: 'name: spec-test\nnetwork: { subnet: 198.18.20.0/24\nredis: { version: 7.0.15 }\n',
    problems: ['\\d+:\\d+: YAML syntax error: .*(flow|Flow|}).*'],
  },
  {
    name: 'duplicate machine name (a YAML key twice)',
    spec: stringify(base()).replace('web2:', 'web1:'),
    problems: ['\\d+:3: YAML syntax error: Map keys must be unique'],
  },
  {
    name: 'unknown top-level key',
    spec: (s) => (s.colour = 'blue'),
    problems: [`colour: unknown key \\(allowed here: name, provider, network, redis, app, machines, hyperv\\) ${LINE}`],
  },
  {
    name: 'unknown backplane',
    spec: (s) => (s.redis.backplane = 'kafka'),
    problems: [`redis.backplane: .*"pubsub".*"streams".* ${LINE}`],
  },
  {
    name: 'unknown key in a machine',
    spec: (s) => (s.machines.web1.colour = 'red'),
    problems: [`machines\\.web1\\.colour: unknown key \\(allowed here: role, os, ip, cpus, memory, disk\\) ${LINE}`],
  },
  {
    name: 'no machine of role redis',
    spec: (s) => {
      s.machines.redis.role = 'web';
    },
    problems: [`machines: no machine has role redis: the lab needs exactly one ${LINE}`],
  },
  {
    name: 'a second machine of role redis',
    spec: (s) => (s.machines.web2 = { role: 'redis', os: 'ubuntu', ip: '198.18.20.12' }),
    problems: [`machines\\.web2\\.role: a second machine with role redis \\(redis, web2\\): exactly one is supported.* ${LINE}`],
  },
  {
    name: 'no web machine',
    spec: (s) => {
      delete s.machines.web1;
      delete s.machines.web2;
    },
    problems: [`machines: no machine has role web: the lab needs at least one web machine ${LINE}`],
  },
  {
    name: 'no machines at all',
    spec: (s) => (s.machines = {}),
    problems: [`machines: no machines: the lab needs one machine with role redis and at least one with role web ${LINE}`],
  },
  {
    name: 'machine name with capitals',
    spec: (s) => renameMachine(s, 'web1', 'Web1'),
    problems: [`machines\\.Web1: "Web1" is not a valid machine name: use 1-15 lowercase letters, digits or "-", not starting or ending with "-" ${LINE}`],
  },
  {
    name: 'machine name longer than 15 characters',
    spec: (s) => renameMachine(s, 'web1', 'web1234567890abc'),
    problems: [`machines\\.web1234567890abc: "web1234567890abc" is not a valid machine name: .* ${LINE}`],
  },
  {
    name: 'machine name with an underscore',
    spec: (s) => renameMachine(s, 'web1', 'web_1'),
    problems: [`machines\\.web_1: "web_1" is not a valid machine name: .* ${LINE}`],
  },
  {
    name: 'machine name starting with a dash',
    spec: (s) => renameMachine(s, 'web1', '-web1'),
    problems: [`machines\\.-web1: "-web1" is not a valid machine name: .* ${LINE}`],
  },
  {
    name: 'machine name of digits only',
    spec: (s) => renameMachine(s, 'web1', '123'),
    problems: [`machines\\.123: "123" is not a valid machine name: a host name cannot be all digits ${LINE}`],
  },
  {
    name: 'address outside the subnet',
    spec: (s) => (s.machines.web1.ip = '198.18.21.11'),
    problems: [`machines\\.web1\\.ip: 198\\.18\\.21\\.11 is outside the subnet 198\\.18\\.20\\.0/24 ${LINE}`],
  },
  {
    name: 'duplicate address',
    spec: (s) => (s.machines.web2.ip = '198.18.20.11'),
    problems: [`machines\\.web2\\.ip: 198\\.18\\.20\\.11 is already the address of web1 ${LINE}`],
  },
  {
    name: 'address equal to the network address',
    spec: (s) => (s.machines.web1.ip = '198.18.20.0'),
    problems: [`machines\\.web1\\.ip: 198\\.18\\.20\\.0 is the network address of 198\\.18\\.20\\.0/24 ${LINE}`],
  },
  {
    name: 'address equal to the gateway',
    spec: (s) => (s.machines.web1.ip = '198.18.20.1'),
    problems: [`machines\\.web1\\.ip: 198\\.18\\.20\\.1 is the gateway \\(the host's address on the lab network\\) ${LINE}`],
  },
  {
    name: 'address equal to the broadcast address',
    spec: (s) => (s.machines.web1.ip = '198.18.20.255'),
    problems: [`machines\\.web1\\.ip: 198\\.18\\.20\\.255 is the broadcast address of 198\\.18\\.20\\.0/24 ${LINE}`],
  },
  {
    name: 'address that is not IPv4',
    spec: (s) => (s.machines.web1.ip = '198.18.20.256'),
    problems: [`machines\\.web1\\.ip: "198\\.18\\.20\\.256" is not an IPv4 address ${LINE}`],
  },
  {
    name: 'address with a leading zero',
    spec: (s) => (s.machines.web1.ip = '198.18.20.011'),
    problems: [`machines\\.web1\\.ip: "198\\.18\\.20\\.011" is not an IPv4 address ${LINE}`],
  },
  {
    name: 'redis port above 65535',
    spec: (s) => (s.redis.port = 70000),
    problems: [`redis\\.port: must be at most 65535 \\(got 70000\\) ${LINE}`],
  },
  {
    name: 'app port 0',
    spec: (s) => (s.app.port = 0),
    problems: [`app\\.port: must be at least 1 \\(got 0\\) ${LINE}`],
  },
  {
    name: 'app port 22 (taken by SSH)',
    spec: (s) => (s.app.port = 22),
    problems: [`app\\.port: port 22 is taken by SSH on the web machines ${LINE}`],
  },
  {
    name: 'port given as a string',
    spec: (s) => (s.redis.port = '6379'),
    problems: [`redis\\.port: must be a number \\(got "6379"\\) ${LINE}`],
  },
  {
    name: 'subnet not in CIDR form',
    spec: (s) => (s.network.subnet = '198.18.20.0'),
    problems: [`network\\.subnet: "198\\.18\\.20\\.0" is not in CIDR form, e\\.g\\. 10\\.123\\.0\\.0/24 ${LINE}`],
  },
  {
    name: 'subnet with host bits set',
    spec: (s) => (s.network.subnet = '198.18.20.5/24'),
    problems: [`network\\.subnet: 198\\.18\\.20\\.5/24 has host bits set: the network address is 198\\.18\\.20\\.0/24 ${LINE}`],
  },
  {
    name: 'subnet prefix too long',
    spec: (s) => {
      s.network.subnet = '198.18.20.0/30';
      s.machines = { redis: { role: 'redis', os: 'ubuntu', ip: '198.18.20.2' } };
    },
    problems: [`network\\.subnet: prefix /30 is not supported: use /8 to /29 ${LINE}`, `machines: no machine has role web.* ${LINE}`],
  },
  {
    name: 'missing lab name',
    spec: (s) => delete s.name,
    problems: ['name: is required'],
  },
  {
    name: 'invalid lab name',
    spec: (s) => (s.name = 'Lab_1'),
    problems: [`name: must start with a lowercase letter and hold only lowercase letters, digits and "-" \\(at most 24 characters\\) \\(got "Lab_1"\\) ${LINE}`],
  },
  {
    name: 'unknown role',
    spec: (s) => (s.machines.web1.role = 'cache'),
    problems: [`machines\\.web1\\.role: must be one of "redis", "web", "lb" \\(got "cache"\\) ${LINE}`],
  },
  {
    name: 'redis machine on windows',
    spec: (s) => (s.machines.redis.os = 'windows'),
    problems: [`machines\\.redis\\.os: the redis machine must run ubuntu \\(Redis is built from source on Linux\\) ${LINE}`],
  },
  {
    name: 'memory that is not a size',
    spec: (s) => (s.machines.web1.memory = '4 gigs'),
    problems: [`machines\\.web1\\.memory: must be a size such as 512MB, 4GB or 1TB \\(got "4 gigs"\\) ${LINE}`],
  },
  {
    name: 'machines missing',
    spec: (s) => delete s.machines,
    problems: ['machines: is required'],
  },
  {
    name: 'empty file',
    spec: '',
    problems: [' the spec must be a YAML mapping with name, network, redis, app and machines'],
  },
  {
    name: 'a list instead of a mapping',
    spec: '- a\n- b\n',
    problems: [' the spec must be a YAML mapping with name, network, redis, app and machines'],
  },
  {
    name: 'unknown provider',
    spec: (s) => (s.provider = 'vmware'),
    problems: [`provider: must be one of "netns", "hyperv" \\(got "vmware"\\) ${LINE}`],
  },
  {
    name: 'redis source url without a pinned release',
    spec: (s) => {
      s.redis.version = '7.0.14';
      s.redis.source = 'url';
    },
    problems: [`redis\\.source: no pinned sha256 for Redis 7\\.0\\.14 \\(pinned: .*\\): give source: \\{url: \\.\\.\\., sha256: \\.\\.\\.\\} ${LINE}`],
  },
  {
    name: 'several problems of addresses and names: all reported',
    spec: (s) => {
      renameMachine(s, 'web1', 'Web1');
      s.machines.Web1.ip = '198.18.21.11';
      s.machines.web2.ip = '198.18.20.255';
    },
    problems: [
      `machines\\.Web1: "Web1" is not a valid machine name: .* ${LINE}`,
      `machines\\.Web1\\.ip: 198\\.18\\.21\\.11 is outside the subnet 198\\.18\\.20\\.0/24 ${LINE}`,
      `machines\\.web2\\.ip: 198\\.18\\.20\\.255 is the broadcast address of 198\\.18\\.20\\.0/24 ${LINE}`,
    ],
  },
  {
    name: 'several problems of types and keys: all reported',
    spec: (s) => {
      s.redis.port = 0;
      s.machines.web1.role = 'cache';
      s.app.colour = 'red';
    },
    problems: [
      `redis\\.port: must be at least 1 \\(got 0\\) ${LINE}`,
      `app\\.colour: unknown key \\(allowed here: port, rateLimit\\) ${LINE}`,
      `machines\\.web1\\.role: must be one of "redis", "web", "lb" \\(got "cache"\\) ${LINE}`,
    ],
  },
  {
    name: 'hyperv.installers: an installer with neither file nor url, one with a bad sha256, an unknown one',
    spec: (s) => {
      s.hyperv = {
        ubuntuIso: 'C:\\iso\\ubuntu.iso',
        windowsIso: 'C:\\iso\\windows.iso',
        installers: { node: { sha256: 'a'.repeat(64) }, rewrite: { file: 'rewrite.msi', sha256: 'abc' }, nodejs: { url: 'https://example.invalid/n.msi', sha256: 'b'.repeat(64) } },
      };
    },
    problems: [
      `hyperv\\.installers\\.nodejs: unknown key \\(allowed here: webdeploy, rewrite, node, iisnode\\) ${LINE}`,
      `hyperv\\.installers\\.rewrite\\.sha256: must be 64 hexadecimal characters \\(got "abc"\\) ${LINE}`,
      `hyperv\\.installers\\.node: give file \\(a local copy of the installer\\) or url \\(where to download it\\), not neither ${LINE}`,
    ],
  },
  {
    name: 'hyperv.installers: file and url both; hyperv.publish not a method',
    spec: (s) => {
      s.hyperv = {
        ubuntuIso: 'C:\\iso\\ubuntu.iso',
        windowsIso: 'C:\\iso\\windows.iso',
        publish: 'ftp',
        installers: { webdeploy: { file: 'wd.msi', url: 'https://example.invalid/wd.msi', sha256: 'c'.repeat(64) } },
      };
    },
    problems: [
      `hyperv\\.publish: must be one of "webdeploy", "copy" \\(got "ftp"\\) ${LINE}`,
      `hyperv\\.installers\\.webdeploy: give file \\(a local copy of the installer\\) or url \\(where to download it\\), not both ${LINE}`,
    ],
  },
];

function renameMachine(s: Record<string, any>, from: string, to: string): void {
  s.machines = Object.fromEntries(Object.entries(s.machines).map(([k, v]) => [k === from ? to : k, v]));
}

describe('the default spec', () => {
  test('loads and is valid', () => {
    const spec = loadSpec(DEFAULT_SPEC);
    assert.equal(spec.name, 'signalr-redis');
    assert.equal(spec.network.cidr, '10.123.0.0/24');
    assert.equal(spec.network.gateway, '10.123.0.1');
    assert.deepEqual(
      spec.machines.map((m) => [m.name, m.role, m.os, m.ip]),
      [
        ['redis', 'redis', 'ubuntu', '10.123.0.10'],
        ['web1', 'web', 'windows', '10.123.0.11'],
        ['web2', 'web', 'windows', '10.123.0.12'],
      ],
    );
    assert.equal(spec.redis.port, 6379);
    assert.equal(spec.redis.channel, 'ChatApp');
    assert.equal(spec.redis.backplane, 'pubsub', 'the tutorial\'s backplane unless the spec says streams');
    assert.equal(spec.machines[1]!.memoryBytes, 4 * 2 ** 30);
  });

  test('labctl validate prints ok and exits 0', async () => {
    const r = await runCli(['--spec', DEFAULT_SPEC, 'validate']);
    assert.equal(r.code, 0, describeResult(r));
    assert.equal(r.stdout, 'ok\n');
    assert.equal(r.stderr, '');
    const j = await runCli(['--spec', DEFAULT_SPEC, 'validate', '--json']);
    assert.equal(j.code, 0, describeResult(j));
    assert.deepEqual(JSON.parse(j.stdout), { ok: true, file: DEFAULT_SPEC, lab: 'signalr-redis', problems: [] });
  });

  test('a spec written by the test helpers validates too (the base of the bad cases)', async () => {
    const file = writeSpec('base', () => {});
    const r = await runCli(['--spec', file, 'validate']);
    assert.equal(r.code, 0, describeResult(r));
    assert.equal(r.stdout, 'ok\n');
  });
});

describe('bad specs: labctl validate exits 2 and prints FILE:field: what is wrong', () => {
  test('there are at least 15 cases', () => assert.ok(cases.length >= 15, `${cases.length} cases`));
  for (const c of cases) {
    test(c.name, async () => {
      const file = writeSpec(c.name.replace(/[^a-z0-9]+/gi, '-'), c.spec);
      const r = await runCli(['--spec', file, 'validate']);
      assert.equal(r.code, 2, describeResult(r));
      assert.equal(hasStackTrace(r.stdout + r.stderr), false, describeResult(r));
      const lines = r.stdout.trimEnd().split('\n');
      for (const line of lines) assert.ok(line.startsWith(`${file}:`), `every problem starts with the file name: ${line}`);
      assert.equal(lines.length, c.problems.length, `expected ${c.problems.length} problem line(s):\n${r.stdout}`);
      for (const p of c.problems) {
        const re = new RegExp(`^${esc(file)}:${p}$`);
        assert.ok(lines.some((l) => re.test(l)), `no line matches ${re}:\n${r.stdout}`);
      }
    });
  }
});

describe('validate and other commands on bad input', () => {
  test('a missing spec file: exit 2, one line', async () => {
    const file = path.join(dir, 'does-not-exist.yaml');
    const r = await runCli(['--spec', file, 'validate']);
    assert.equal(r.code, 2, describeResult(r));
    assert.equal(r.stdout, `${file}: cannot read the spec: no such file\n`);
  });

  test('validate --json lists the problems', async () => {
    const file = writeSpec('json', (s) => (s.app.port = 70000));
    const r = await runCli(['--spec', file, 'validate', '--json']);
    assert.equal(r.code, 2, describeResult(r));
    const body = JSON.parse(r.stdout);
    assert.equal(body.ok, false);
    assert.equal(body.problems.length, 1);
    assert.match(body.problems[0], /:app\.port: must be at most 65535 \(got 70000\)/);
  });

  test('loadSpec throws a SpecError holding every problem', () => {
    const file = writeSpec('load', (s) => {
      s.machines.web1.ip = '198.18.20.1';
      s.machines.web2.ip = '198.18.20.0';
    });
    assert.throws(
      () => loadSpec(file),
      (err: unknown) => {
        assert.ok(err instanceof SpecError);
        assert.equal(err.exitCode, 2);
        assert.equal(err.problems.length, 2);
        assert.match(err.problems[0]!, /machines\.web1\.ip: 198\.18\.20\.1 is the gateway/);
        assert.match(err.problems[1]!, /machines\.web2\.ip: 198\.18\.20\.0 is the network address/);
        return true;
      },
    );
  });

  test('schema and cross-field problems are reported together, not one round at a time', () => {
    const file = writeSpec('both', (s) => {
      s.network.subnet = '198.18.20.0/33';
      s.machines.redis.ip = '198.18.20.300';
      s.machines.web1.cpus = 0;
      s.machines.web2.colour = 'blue';
    });
    assert.throws(
      () => loadSpec(file),
      (err: unknown) => {
        assert.ok(err instanceof SpecError);
        const all = err.problems.join('\n');
        assert.match(all, /machines\.web1\.cpus: must be at least 1/, 'the schema problem');
        assert.match(all, /machines\.web2: unknown field "colour"|colour/, 'the unknown key');
        assert.match(all, /network\.subnet: prefix \/33 is not supported/, 'the subnet, checked across fields');
        assert.match(all, /machines\.redis\.ip: "198\.18\.20\.300" is not an IPv4 address/);
        assert.equal(new Set(err.problems).size, err.problems.length, 'each problem once');
        return true;
      },
    );
  });

  for (const command of [['create'], ['teardown', '--yes'], ['status'], ['plan'], ['ssh', 'web1', '--', 'true']]) {
    test(`${command[0]} with a bad spec: exit 2, one clear line, nothing created`, async () => {
      const home = path.join(dir, `home-${command[0]}`);
      const file = writeSpec(`cmd-${command[0]}`, (s) => (s.machines.web1.ip = '10.0.0.1'));
      const r = await runCli(['--spec', file, '--home', home, ...command]);
      assert.equal(r.code, 2, describeResult(r));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^labctl: ${esc(file)}:machines\\.web1\\.ip: 10\\.0\\.0\\.1 is outside the subnet 198\\.18\\.20\\.0/24 ${LINE}\\n$`));
      assert.equal(existsSync(home), false, 'nothing was created');
    });
  }

  test('unknown command and unknown option: exit 2, no stack trace', async () => {
    for (const args of [['frobnicate'], ['validate', '--bogus'], ['--provider', 'vmware', 'validate']]) {
      const r = await runCli(['--spec', DEFAULT_SPEC, ...args]);
      assert.equal(r.code, 2, describeResult(r));
      assert.match(r.stderr, /^error: /);
      assert.equal(hasStackTrace(r.stderr), false, describeResult(r));
    }
  });
});

describe('the CLI entry point', () => {
  test('run() returns each run its own exit code and leaves process.exitCode alone', async () => {
    const bad = writeSpec('reentrant', (s) => (s.redis.port = 0));
    const { run } = await import('../../src/cli/main.js');
    const outer = process.exitCode;
    try {
      process.exitCode = undefined;
      const first = await captureOutput(() => run(['node', 'labctl', '--spec', bad, 'validate']));
      assert.equal(first.value, 2);
      assert.equal(process.exitCode, undefined, 'run() left process.exitCode set');
      const second = await captureOutput(() => run(['node', 'labctl', '--spec', DEFAULT_SPEC, 'validate']));
      assert.equal(second.value, 0, `a valid spec after an invalid one: ${second.stdout}`);
      assert.equal(second.stdout, 'ok\n');
    } finally {
      process.exitCode = outer;
    }
  });

  test('global options work after the command name too, and win over LABCTL_HOME', async () => {
    const homeA = path.join(dir, 'home-env');
    const homeB = path.join(dir, 'home-cli');
    // a journal in B makes the lab "created" there
    const state = { version: 1, lab: 'spec-test', provider: 'netns', spec: { file: 'x', hash: 'y' }, createdAt: '', updatedAt: '', steps: {}, resources: [], facts: {} };
    mkdirSync(path.join(homeB, 'labs/spec-test'), { recursive: true });
    writeFileSync(path.join(homeB, 'labs/spec-test/state.json'), JSON.stringify(state));
    const file = writeSpec('options', () => {});
    const saved = process.env.LABCTL_HOME;
    process.env.LABCTL_HOME = homeA;
    try {
      const after = await runCli(['status', '--json', '--spec', file, '--home', homeB]);
      assert.equal(after.code, 0, describeResult(after));
      assert.equal(JSON.parse(after.stdout).created, true, 'status --json --home B used B');
      const envOnly = await runCli(['status', '--json', '--spec', file]);
      assert.equal(JSON.parse(envOnly.stdout).created, false, 'without --home, LABCTL_HOME (A) is used');
      const before = await runCli(['--json', '--spec', file, '--home', homeB, 'status']);
      assert.equal(JSON.parse(before.stdout).created, true, 'options before the command still work');
    } finally {
      if (saved === undefined) delete process.env.LABCTL_HOME;
      else process.env.LABCTL_HOME = saved;
    }
  });
});
