/**
 * The hyperv provider's files, checked without Windows: every PowerShell template and
 * every script in the plan parses (tree-sitter-powershell) and calls real cmdlets with
 * real parameters; the plan's parameters match each script's param() block; unattend.xml
 * is well-formed XML with the values in place; the autoinstall user-data and meta-data are
 * YAML with the keys subiquity and cloud-init need; the seed disc is an ISO 9660 volume
 * labelled CIDATA; the confirmation helper answers a fake subiquity API.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { parse as parseYaml } from 'yaml';
import { HypervProvider } from '../../src/providers/hyperv/index.js';
import { buildSeedIso, renderMetaData, renderUserData, type SeedInput } from '../../src/providers/hyperv/seed.js';
import { encodeUnattendPassword, renderUnattend } from '../../src/providers/hyperv/unattend.js';
import { loadSpec } from '../../src/spec/load.js';
import { LabStore } from '../../src/state/store.js';
import { encodeInvocation, scriptFile, WRAPPER } from '../../src/transports/powershell.js';
import { generateSshKeyPair } from '../../src/transports/ssh.js';
import { templatePath, TEMPLATES_DIR } from '../../src/util/template.js';
import { readIsoFiles } from './hyperv-fakes.js';
import { lintPowerShell, psParser } from './hyperv-pslint.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'labctl-hvt-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function ps1Files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? ps1Files(path.join(dir, e.name)) : e.name.endsWith('.ps1') ? [path.join(dir, e.name)] : [],
  );
}

/** The parameters a script declares, and which of them are mandatory. */
async function paramBlock(file: string): Promise<{ names: Map<string, boolean> }> {
  const tree = (await psParser()).parse(readFileSync(file, 'utf8'))!;
  const names = new Map<string, boolean>();
  const block = tree.rootNode.children.find((c) => c?.type === 'param_block');
  if (!block) return { names };
  const visit = (n: NonNullable<typeof block>) => {
    if (n.type === 'script_parameter') {
      const v = n.children.find((c) => c?.type === 'variable');
      if (v) names.set(v.text.slice(1).toLowerCase(), /Mandatory\s*=\s*\$true/i.test(n.text));
      return;
    }
    for (const c of n.children) if (c) visit(c);
  };
  visit(block);
  return { names };
}

describe('PowerShell templates', () => {
  const files = [...ps1Files(path.join(TEMPLATES_DIR, 'hyperv'))];

  test('there are templates to check', () => {
    assert.ok(files.length >= 25, `only ${files.length} .ps1 files`);
  });

  for (const file of files) {
    const rel = path.relative(TEMPLATES_DIR, file);
    test(`${rel}: parses, calls real cmdlets with real parameters, works in Windows PowerShell 5.1`, async () => {
      const text = readFileSync(file, 'utf8');
      const { problems } = await lintPowerShell(text, rel);
      assert.deepEqual(problems, []);
      assert.match(text, /^param\(/m, 'no param() block');
      assert.match(text, /\$ErrorActionPreference = 'Stop'/, "no $ErrorActionPreference = 'Stop'");
    });
  }

  test('the checker itself catches what it is for', async () => {
    const { problems } = await lintPowerShell(
      ['Get-VM -NoSuchParameter 1', 'New-VM -Name a -VHDPath b -NoVHD', 'Invent-Cmdlet', '$x = "bad $Name: here"', "ConvertFrom-Json -InputObject '{}' -AsHashtable", 'if ($a {'].join('\n'),
      'bad.ps1',
    );
    for (const expected of [/no parameter -NoSuchParameter/, /no parameter set takes these together/, /Invent-Cmdlet is not a cmdlet/, /"\$Name:"/, /exists only in PowerShell 7/, /syntax error/]) {
      assert.ok(problems.some((p) => expected.test(p)), `${expected} not reported: ${problems.join('; ')}`);
    }
  });
});

describe('the plan on a machine without PowerShell', () => {
  const spec = loadSpec(path.resolve('vm-specs/signalr-redis.yaml'));
  const store = new LabStore(path.join(tmp, 'home'), spec.name);
  store.openReadOnly();
  const provider = new HypervProvider({ platform: 'linux' });
  const lab = { spec, store, home: path.join(tmp, 'home') };
  const steps = provider.createSteps(lab);
  const web = spec.machines.filter((m) => m.os === 'windows').flatMap((m) => provider.webSteps(lab, m, 'redis:redis:service') ?? []);
  const scripted = [...steps, ...web].map((s) => ({ id: s.id, action: s.describe?.() })).filter((s) => s.action?.script);

  test('spec passes the provider\'s validation, steps have no live checks, and most run a script', () => {
    assert.deepEqual(provider.validate(spec), []);
    assert.ok(scripted.length >= 25, `${scripted.length} scripted steps`);
    for (const s of steps) {
      if (s.check) assert.ok(['lab:ssh-key', 'hyperv:dns'].includes(s.id) || /:(seed|installer|firmware|unattend)$/.test(s.id), `${s.id} has a live check without PowerShell`);
    }
  });

  test('every script in the plan exists, parses, and gets exactly the parameters it declares', async () => {
    for (const s of scripted) {
      const script = s.action!.script!;
      assert.match(script, /^templates\/hyperv\/[a-z-]+\.ps1$/);
      const file = path.resolve(script);
      const { problems } = await lintPowerShell(readFileSync(file, 'utf8'), script);
      assert.deepEqual(problems, []);
      const { names } = await paramBlock(file);
      const given = Object.keys(s.action!.params ?? {}).map((k) => k.toLowerCase());
      for (const g of given) assert.ok(names.has(g), `${s.id}: ${script} has no parameter -${g}`);
      for (const [name, mandatory] of names) if (mandatory) assert.ok(given.includes(name), `${s.id}: ${script} needs -${name}`);
      // a guest script run through guest-run.ps1: its own parameters, checked the same way
      const guest = s.action!.params?.GuestScript as string | undefined;
      if (guest) {
        const g = await paramBlock(guest);
        const inner = Object.keys((s.action!.params!.Parameters ?? {}) as object).map((k) => k.toLowerCase());
        for (const k of inner) assert.ok(g.names.has(k), `${s.id}: ${guest} has no parameter -${k}`);
        for (const [name, mandatory] of g.names) if (mandatory) assert.ok(inner.includes(name), `${s.id}: ${guest} needs -${name}`);
      }
    }
    assert.ok(scripted.some((s) => s.action!.params?.GuestScript), 'no guest scripts in the plan');
  });

  test('the line sent to PowerShell for each step parses too, and only varies in base64', async () => {
    for (const s of scripted) {
      const line = encodeInvocation(scriptFile(WRAPPER), { id: 'abc123', script: scriptFile(s.action!.script!.replace(/^templates\//, '')), params: s.action!.params ?? {} });
      const { problems, commands } = await lintPowerShell(line, `${s.id} line`);
      assert.deepEqual(problems, []);
      assert.deepEqual(
        commands.map((c) => c.name),
        [],
        'the line invokes only the wrapper, through the call operator',
      );
    }
  });

  test('templates/hyperv/_invoke.ps1 is what the runner calls and declares -Request', async () => {
    const { names } = await paramBlock(templatePath(WRAPPER));
    assert.deepEqual([...names.entries()], [['request', true]]);
  });
});

const hostKey = generateSshKeyPair('redis.test');
const seedInput = (over: Partial<SeedInput> = {}): SeedInput => ({
  lab: 'signalr-redis',
  machine: { name: 'redis', index: 0, role: 'redis', os: 'ubuntu', ip: '10.123.0.10', cpus: 2, memoryBytes: 2 ** 31, diskBytes: 20 * 2 ** 30 },
  mac: '00155D66DA67',
  prefix: 24,
  gateway: '10.123.0.1',
  dns: ['10.0.0.53', '10.0.1.53'],
  user: 'labctl',
  authorizedKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx labctl@test',
  hostKey,
  ...over,
});

describe('autoinstall seed', () => {
  test('user-data is #cloud-config YAML with every key the unattended install needs', () => {
    const text = renderUserData(seedInput());
    assert.equal(text.split('\n')[0], '#cloud-config');
    const doc = parseYaml(text);
    const ai = doc.autoinstall;
    assert.equal(ai.version, 1);
    assert.equal(ai.shutdown, 'poweroff', 'the VM must power off: its first boot device is the installer disc');
    assert.equal(ai.ssh['install-server'], true);
    assert.equal(ai.ssh['allow-pw'], false);
    assert.equal(ai.storage.layout.name, 'direct');
    const eth = ai.network.ethernets.lab0;
    assert.deepEqual(eth.match, { macaddress: '00:15:5d:66:da:67' });
    assert.deepEqual(eth.addresses, ['10.123.0.10/24']);
    assert.deepEqual(eth.routes, [{ to: 'default', via: '10.123.0.1' }]);
    assert.deepEqual(eth.nameservers.addresses, ['10.0.0.53', '10.0.1.53']);
    assert.ok(ai.packages.includes('linux-cloud-tools-virtual'), 'Hyper-V KVP daemon');
    assert.ok(ai['early-commands'].some((c: string) => c.includes('/run/labctl/confirm-autoinstall.py') && /&\s*$/.test(c)), 'confirm helper started in the background');
    assert.equal(doc.write_files[0].path, '/run/labctl/confirm-autoinstall.py');
    assert.equal(doc.write_files[0].content, readFileSync(templatePath('hyperv/autoinstall/confirm-autoinstall.py'), 'utf8'));
    const ud = ai['user-data'];
    assert.equal(ud.hostname, 'redis');
    assert.equal(ud.users[0].name, 'labctl');
    assert.equal(ud.users[0].sudo, 'ALL=(ALL) NOPASSWD:ALL');
    assert.deepEqual(ud.users[0].ssh_authorized_keys, ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx labctl@test']);
    assert.equal(ud.ssh_pwauth, false);
    assert.equal(ud.ssh_keys.ed25519_public, hostKey.publicKey.trim());
    assert.equal(ud.ssh_keys.ed25519_private.trim(), hostKey.privateKey.trim());
    assert.deepEqual(ud.ssh_genkeytypes, []);
  });

  test('a value cannot add YAML of its own', () => {
    const nasty = 'ssh-ed25519 AAAA x\nautoinstall: {version: 2}\n"quoted": \'x\' # not a comment';
    const doc = parseYaml(renderUserData(seedInput({ authorizedKey: nasty })));
    assert.equal(doc.autoinstall.version, 1);
    assert.deepEqual(doc.autoinstall['user-data'].users[0].ssh_authorized_keys, [nasty]);
  });

  test('without a proxy: none for the install, nothing added to the installed system', () => {
    const doc = parseYaml(renderUserData(seedInput()));
    assert.equal(doc.autoinstall.proxy, null);
    assert.deepEqual(doc.autoinstall['user-data'].write_files, []);
  });

  test("the host's proxy reaches the install (apt, snap) and the installed system's environment, never for the lab's own subnet", () => {
    const doc = parseYaml(
      renderUserData(seedInput({ proxy: { http: 'http://proxy.corp:3128', https: 'http://proxy.corp:3128', noProxy: '.corp,10.0.0.0/8' }, cidr: '10.123.0.0/24' })),
    );
    assert.equal(doc.autoinstall.proxy, 'http://proxy.corp:3128');
    const files = doc.autoinstall['user-data'].write_files;
    assert.equal(files.length, 1);
    assert.equal(files[0].path, '/etc/environment');
    assert.equal(files[0].append, true, 'appended: PATH and the rest of /etc/environment stay');
    const lines = String(files[0].content).trim().split('\n');
    assert.ok(lines.includes('https_proxy=http://proxy.corp:3128') && lines.includes('HTTPS_PROXY=http://proxy.corp:3128'));
    const noProxy = lines.find((l) => l.startsWith('no_proxy='))!.slice('no_proxy='.length).split(',');
    for (const want of ['.corp', '10.0.0.0/8', 'localhost', '127.0.0.1', '10.123.0.0/24']) assert.ok(noProxy.includes(want), `no_proxy has ${want}: ${noProxy}`);
  });

  test('meta-data names the instance and host', () => {
    assert.deepEqual(parseYaml(renderMetaData(seedInput())), { 'instance-id': 'labctl-signalr-redis-redis', 'local-hostname': 'redis' });
  });

  test('the seed disc is ISO 9660 labelled CIDATA (blkid) with user-data and meta-data (Joliet names)', () => {
    const iso = buildSeedIso(seedInput(), new Date(Date.UTC(2026, 0, 2, 3, 4, 5)));
    const file = path.join(tmp, 'seed.iso');
    writeFileSync(file, iso);
    const probe = execFileSync('blkid', ['-p', '-o', 'export', file], { encoding: 'utf8' });
    assert.match(probe, /^TYPE=iso9660$/m);
    assert.match(probe, /^LABEL=cidata$/im);
    const files = readIsoFiles(iso);
    assert.equal(files.get('user-data')!.toString('utf8'), renderUserData(seedInput()));
    assert.equal(files.get('meta-data')!.toString('utf8'), renderMetaData(seedInput()));
    assert.equal(iso.length % 2048, 0);
    assert.equal(iso.toString('ascii', 16 * 2048 + 1, 16 * 2048 + 6), 'CD001');
    assert.equal(iso.toString('ascii', 16 * 2048 + 40, 16 * 2048 + 46), 'CIDATA');
  });
});

describe('unattend.xml', () => {
  const input = {
    lab: 'signalr-redis',
    machine: { name: 'web1', index: 1, role: 'web' as const, os: 'windows' as const, ip: '10.123.0.11', cpus: 2, memoryBytes: 2 ** 32, diskBytes: 40 * 2 ** 30 },
    mac: '00155D944CA0',
    prefix: 24,
    gateway: '10.123.0.1',
    dns: ['10.0.0.53', '10.0.1.53'],
    timeZone: 'W. Europe Standard Time & <co>',
    adminPassword: `pa<ss>&'"word`,
  };

  test('is well-formed XML (XMLValidator) and carries name, address by MAC, DNS, time zone, password', () => {
    const xml = renderUnattend(input);
    assert.equal(XMLValidator.validate(xml), true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' }).parse(xml);
    const settings = doc.unattend.settings as any[];
    const pass = (name: string) => settings.find((s) => s['@pass'] === name);
    const component = (p: any, name: string) => [p.component].flat().find((c: any) => c['@name'] === name);
    const specialize = pass('specialize');
    const shell = component(specialize, 'Microsoft-Windows-Shell-Setup');
    assert.equal(shell.ComputerName, 'WEB1');
    assert.equal(shell.TimeZone, 'W. Europe Standard Time & <co>');
    const tcpip = component(specialize, 'Microsoft-Windows-TCPIP').Interfaces.Interface;
    assert.equal(tcpip.Identifier, '00-15-5D-94-4C-A0');
    assert.equal(tcpip.Ipv4Settings.DhcpEnabled, false);
    assert.equal(tcpip.UnicastIpAddresses.IpAddress['#text'], '10.123.0.11/24');
    assert.equal(tcpip.Routes.Route.NextHopAddress, '10.123.0.1');
    const dns = component(specialize, 'Microsoft-Windows-DNS-Client').Interfaces.Interface;
    assert.equal(dns.Identifier, '00-15-5D-94-4C-A0');
    assert.deepEqual(dns.DNSServerSearchOrder.IpAddress.map((a: any) => a['#text']), ['10.0.0.53', '10.0.1.53']);
    const oobe = component(pass('oobeSystem'), 'Microsoft-Windows-Shell-Setup');
    const pw = oobe.UserAccounts.AdministratorPassword;
    assert.equal(pw.PlainText, false);
    assert.equal(pw.Value, encodeUnattendPassword(input.adminPassword));
    assert.equal(Buffer.from(pw.Value, 'base64').toString('utf16le'), `${input.adminPassword}AdministratorPassword`);
    assert.ok(!xml.includes(input.adminPassword));
  });
});

describe('confirm-autoinstall.py against a fake subiquity API', () => {
  const script = templatePath('hyperv/autoinstall/confirm-autoinstall.py');

  function runHelper(socket: string, log: string, deadline = '20'): Promise<number> {
    return new Promise((resolve, reject) => {
      const child = spawn('python3', [script, log, socket, '0.05', deadline], { stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', (code) => resolve(code ?? -1));
    });
  }

  test('confirms once the installer asks, then exits', async () => {
    const socket = path.join(tmp, 'subiquity.sock');
    const log = path.join(tmp, 'confirm.log');
    const requests: string[] = [];
    let state = 'WAITING';
    let polls = 0;
    const server = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      if (req.method === 'GET' && req.url === '/meta/status') {
        if (++polls === 3) state = 'NEEDS_CONFIRMATION';
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ state, confirming_tty: '', cloud_init_ok: true, interactive: false }));
      } else if (req.method === 'POST' && req.url?.startsWith('/meta/confirm?')) {
        state = 'RUNNING';
        res.end('null');
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(socket, r));
    try {
      assert.equal(await runHelper(socket, log), 0);
    } finally {
      server.close();
    }
    const posts = requests.filter((r) => r.startsWith('POST'));
    assert.deepEqual(posts, ['POST /meta/confirm?tty=%22%2Fdev%2Fconsole%22']);
    assert.ok(requests.indexOf(posts[0]!) > requests.indexOf('GET /meta/status'), 'confirmed before the installer asked');
    const written = readFileSync(log, 'utf8');
    assert.match(written, /installer state NEEDS_CONFIRMATION/);
    assert.match(written, /confirmed the install \(HTTP 200\)/);
    assert.match(written, /nothing left to confirm/);
  });

  test('never fails the install: with no API it keeps trying, then gives up quietly', async () => {
    const log = path.join(tmp, 'confirm-none.log');
    assert.equal(await runHelper(path.join(tmp, 'absent.sock'), log, '0.3'), 0);
    assert.match(readFileSync(log, 'utf8'), /installer API not answering yet[\s\S]*gave up/);
  });
});
