/**
 * The load balancer (role lb): the spec's checks around it (one at most, on Ubuntu, with web
 * machines to balance over), `labctl validate` refusing a bad one with exit 2 and one line per
 * problem, and the haproxy.cfg rendered from templates/lb: round-robin over every web machine,
 * the sticky cookie, /healthz checks, the WebSocket tunnel timeout, listening on the lb's
 * address port 80, and accepted by `haproxy -c` when HAProxy is installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { describeResult, hasStackTrace, REPO_ROOT, runCli } from '../helpers/cli.js';
import { parseSpec } from '../../src/spec/load.js';
import { browserUrls, lbMachine } from '../../src/spec/types.js';
import { SpecError } from '../../src/util/errors.js';
import { CHECK_FALL, CHECK_INTERVAL_MS, LB_COOKIE, renderHaproxyConfig } from '../../src/roles/lb/config.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-lb-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function base(): Record<string, any> {
  return {
    name: 'lb-test',
    provider: 'netns',
    network: { subnet: '198.18.20.0/24' },
    redis: { version: '7.0.15' },
    app: { port: 8080 },
    machines: {
      redis: { role: 'redis', os: 'ubuntu', ip: '198.18.20.10' },
      web1: { role: 'web', os: 'ubuntu', ip: '198.18.20.11' },
      web2: { role: 'web', os: 'ubuntu', ip: '198.18.20.12' },
      web3: { role: 'web', os: 'windows', ip: '198.18.20.13' },
      lb: { role: 'lb', os: 'ubuntu', ip: '198.18.20.5' },
    },
  };
}

function problems(edit: (s: Record<string, any>) => void): string[] {
  const s = base();
  edit(s);
  try {
    parseSpec(stringify(s), 'lab.yaml');
  } catch (err) {
    if (err instanceof SpecError) return err.problems;
    throw err;
  }
  return [];
}

describe('spec: role lb', () => {
  test('a spec with one Ubuntu lb in front of web machines is valid; its address is the one for browsers', () => {
    const spec = parseSpec(stringify(base()), 'lab.yaml');
    assert.equal(lbMachine(spec)?.name, 'lb');
    assert.deepEqual(browserUrls(spec), [{ name: 'lb', url: 'http://198.18.20.5/' }]);
    const noLb = base();
    delete noLb.machines.lb;
    assert.deepEqual(
      browserUrls(parseSpec(stringify(noLb), 'lab.yaml')).map((u) => u.url),
      ['http://198.18.20.11:8080/', 'http://198.18.20.12:8080/', 'http://198.18.20.13:8080/'],
    );
  });

  test('examples/lb.yaml (the tutorial\'s lab with an lb) validates', async () => {
    const r = await runCli(['--spec', path.join(REPO_ROOT, 'examples/lb.yaml'), 'validate']);
    assert.equal(r.code, 0, describeResult(r));
    assert.equal(r.stdout, 'ok\n');
  });

  test('two lb machines: refused, naming both', () => {
    const p = problems((s) => (s.machines.lb2 = { role: 'lb', os: 'ubuntu', ip: '198.18.20.6' }));
    assert.deepEqual(p.map((l) => l.replace(/ \(line \d+\)$/, '')), ['lab.yaml:machines.lb2.role: a second machine with role lb (lb, lb2): at most one load balancer is supported']);
  });

  test('an lb without web machines: refused, saying what to add', () => {
    const p = problems((s) => {
      delete s.machines.web1;
      delete s.machines.web2;
      delete s.machines.web3;
    });
    assert.ok(p.some((l) => /machines\.lb\.role: a load balancer needs web machines to balance over: add at least one machine with role web/.test(l)), p.join('\n'));
  });

  test('a Windows lb: refused (HAProxy from Ubuntu\'s packages)', () => {
    const p = problems((s) => (s.machines.lb.os = 'windows'));
    assert.deepEqual(p.map((l) => l.replace(/ \(line \d+\)$/, '')), ["lab.yaml:machines.lb.os: the lb machine must run ubuntu (HAProxy from the distribution's packages)"]);
  });

  test('an unknown role still lists lb among the allowed ones', () => {
    const p = problems((s) => (s.machines.lb.role = 'balancer'));
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, /machines\.lb\.role: must be one of "redis", "web", "lb" \(got "balancer"\)/);
  });

  test('labctl validate: two lbs → exit 2, one line, no stack trace', async () => {
    const s = base();
    s.machines.lb2 = { role: 'lb', os: 'ubuntu', ip: '198.18.20.6' };
    const file = path.join(dir, 'two-lbs.yaml');
    writeFileSync(file, stringify(s));
    const r = await runCli(['--home', path.join(dir, 'home'), '--spec', file, 'validate']);
    assert.equal(r.code, 2, describeResult(r));
    // validate prints the problems, one line each, on stdout
    assert.equal(r.stdout.trim().split('\n').length, 1, describeResult(r));
    assert.match(r.stdout, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:machines\\.lb2\\.role: a second machine with role lb`));
    assert.equal(hasStackTrace(r.stdout + r.stderr), false);
  });
});

describe('haproxy.cfg from templates/lb', () => {
  const spec = parseSpec(stringify(base()), 'lab.yaml');
  const cfg = renderHaproxyConfig(spec, path.join(dir, 'stats.sock'));

  test('listens on the lb address port 80 and balances round-robin over every web machine, sticky by cookie, checked on /healthz', () => {
    assert.match(cfg, /^\s+bind 198\.18\.20\.5:80$/m);
    assert.match(cfg, /^\s+balance roundrobin$/m);
    assert.match(cfg, new RegExp(`^\\s+cookie ${LB_COOKIE} insert indirect nocache$`, 'm'));
    assert.match(cfg, /^\s+http-check send meth GET uri \/healthz$/m);
    assert.match(cfg, new RegExp(`^\\s+default-server inter ${CHECK_INTERVAL_MS}ms fall ${CHECK_FALL} rise \\d+$`, 'm'));
    assert.match(cfg, /^\s+timeout tunnel \S+$/m);
    const servers = cfg.split('\n').filter((l) => /^\s+server /.test(l)).map((l) => l.trim());
    assert.deepEqual(servers, [
      'server web1 198.18.20.11:8080 cookie web1 check',
      'server web2 198.18.20.12:8080 cookie web2 check',
      'server web3 198.18.20.13:8080 cookie web3 check',
    ]);
    assert.doesNotMatch(cfg, /\{\{/);
  });

  test('haproxy -c accepts it (when HAProxy is installed: scripts/install-system-deps.sh)', (t) => {
    if (!existsSync('/usr/sbin/haproxy')) return t.skip('no /usr/sbin/haproxy');
    const file = path.join(dir, 'haproxy.cfg');
    writeFileSync(file, cfg);
    const r = spawnSync('/usr/sbin/haproxy', ['-c', '-f', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    // and refuses a broken one: the check can fail
    writeFileSync(file, cfg.replace('balance roundrobin', 'balance no-such-algorithm'));
    assert.notEqual(spawnSync('/usr/sbin/haproxy', ['-c', '-f', file], { encoding: 'utf8' }).status, 0);
  });
});
