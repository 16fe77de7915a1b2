/**
 * The files under templates/ that the Linux roles run or install: every shell script
 * parses (sh -n), every config renders with all its placeholders filled, and the
 * renderer refuses missing values, unused values and line breaks smuggled into a line.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { renderTemplate, renderText, TEMPLATES_DIR, escapeXml } from '../../src/util/template.js';
import { debSrcLines, parseDeb822, parseOneLine } from '../../src/roles/redis/apt-sources.js';
import { summarize } from '../../src/verify/stats.js';

function shellScripts(dir = TEMPLATES_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? shellScripts(path.join(dir, e.name)) : e.name.endsWith('.sh') ? [path.join(dir, e.name)] : [],
  );
}

describe('role templates', () => {
  it('every shell script under templates/ parses with sh -n', () => {
    const scripts = shellScripts();
    assert.ok(scripts.length >= 5, `found only ${scripts.length} scripts`);
    for (const s of scripts) execFileSync('sh', ['-n', s]);
  });

  it('sh -n does reject a broken script (the check above can fail)', () => {
    assert.throws(() => execFileSync('sh', ['-n', '-c', 'if true; then echo'], { stdio: 'ignore' }));
  });

  it('redis.conf renders with requirepass, bind and protected-mode and no placeholder left', () => {
    const conf = renderTemplate('redis/redis.conf', {
      lab: 'l', bind: '10.1.0.10 127.0.0.1', port: 6379, password: 'p'.repeat(40), daemonize: 'yes',
      supervised: 'no', pidfile: '/x/redis.pid', logfile: '/x/redis.log', dir: '/x/data',
      chatUser: 'chat', chatRules: '#abc resetkeys resetchannels &ChatApp#/#* -@all +publish',
    });
    assert.match(conf, /^user chat on #abc resetkeys resetchannels &ChatApp#\/#\* -@all \+publish$/m);
    assert.match(conf, /^requirepass p{40}$/m);
    assert.match(conf, /^bind 10\.1\.0\.10 127\.0\.0\.1$/m);
    assert.match(conf, /^protected-mode yes$/m);
    assert.doesNotMatch(conf, /\{\{/);
  });

  it('the systemd unit, firewall and app settings render', () => {
    const unit = renderTemplate('redis/labctl-redis.service', { lab: 'l', version: '7.0.15', prefix: '/opt/redis/7.0.15', conf: '/etc/redis/redis.conf' });
    assert.match(unit, /^ExecStart=\/opt\/redis\/7\.0\.15\/bin\/redis-server \/etc\/redis\/redis\.conf$/m);
    const nft = renderTemplate('redis/nftables.conf', { lab: 'l', subnet: '10.1.0.0/24', port: 6379 });
    assert.match(nft, /policy drop/);
    assert.match(nft, /ip saddr 10\.1\.0\.0\/24 tcp dport \{ 22, 6379 \} accept/);
    const env = renderTemplate('web-linux/app.env', {
      lab: 'l', node: 'web1', port: 80, redisHost: '10.1.0.10', redisPort: 6379, redisTopology: 'single', redisNodes: '', redisUser: 'chat', passwordFile: '/p', channel: 'ChatApp', backplane: 'streams', ratePerSec: 20, rateBurst: 40,
    });
    assert.match(env, /^REDIS_TOPOLOGY=single$/m);
    assert.match(env, /^REDIS_PASSWORD_FILE=\/p$/m);
    assert.match(env, /^BACKPLANE=streams$/m);
    assert.match(env, /^REDIS_USERNAME=chat$/m);
    assert.doesNotMatch(env, /PASSWORD=/, 'the password itself is never in the settings');
  });

  it('the renderer refuses a missing value, an unused value and a line break', () => {
    assert.throws(() => renderText('a {{x}}', {}), /no value for \{\{x\}\}/);
    assert.throws(() => renderText('a', { x: 1 }), /not used/);
    assert.throws(() => renderText('requirepass {{p}}', { p: 'a\nrename-command CONFIG ""' }), /line break/);
    assert.equal(renderText('<a v="{{v}}"/>', { v: `"&<'` }, escapeXml), '<a v="&quot;&amp;&lt;&apos;"/>');
  });
});

describe('pid-alive.sh', () => {
  it('says a live process is alive, and a zombie (which kill -0 still accepts) is not', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-pid-'));
    // the child ends after its parent has become sleep (exec'd in its place), which never reaps
    // it: a zombie. (A child that ended at once was sometimes reaped by sh before its exec.)
    const parent = spawn('sh', ['-c', '(sleep 0.5) & echo $!; exec sleep 10'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombie = Number((await once(parent.stdout!, 'data'))[0].toString().trim());
      const script = path.join(TEMPLATES_DIR, 'linux/pid-alive.sh');
      const alive = (pid: number) => {
        writeFileSync(path.join(dir, 'pid'), `${pid}\n`);
        return spawnSync('sh', [script, path.join(dir, 'pid')]).status;
      };
      let state = '';
      for (let i = 0; i < 300 && state !== 'Z'; i++) {
        state = readFileSync(`/proc/${zombie}/stat`, 'utf8').replace(/^.*\) /, '')[0]!;
        if (state !== 'Z') await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(state, 'Z', 'the test did make a zombie');
      assert.equal(spawnSync('kill', ['-0', String(zombie)]).status, 0, 'kill -0 accepts the zombie');
      assert.equal(alive(zombie), 1, 'a zombie is not alive');
      assert.equal(alive(parent.pid!), 0, 'a running process is alive');
      assert.equal(alive(999_999_999), 1);
    } finally {
      parent.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('apt sources for the distro source package', () => {
  it('reads deb822 stanzas (with several suites) and one-line entries, and writes deb-src lines', () => {
    const deb822 = parseDeb822(
      'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' +
        'Types: deb-src\nURIs: http://x/\nSuites: y\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://off/\nSuites: z\nComponents: main\n',
    );
    assert.deepEqual(deb822.map((e) => e.suite), ['bookworm', 'bookworm-updates']);
    const oneLine = parseOneLine('# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://archive.ubuntu.com/ubuntu noble main universe\ndeb-src http://a b c\n');
    assert.equal(oneLine.length, 1);
    assert.equal(oneLine[0]!.signedBy, '/k.gpg');
    assert.equal(
      debSrcLines([...deb822.slice(0, 1), ...oneLine]),
      'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main\n' +
        'deb-src [signed-by=/k.gpg] http://archive.ubuntu.com/ubuntu noble main universe',
    );
  });
});

describe('latency percentiles', () => {
  it('are nearest-rank over the samples', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual(summarize(samples), { count: 100, p50: 50, p95: 95, p99: 99, max: 100 });
    assert.deepEqual(summarize([]), { count: 0, p50: 0, p95: 0, p99: 0, max: 0 });
    assert.equal(summarize([3, 1, 2]).p50, 2);
  });
});

describe('toolchain on a fresh Ubuntu VM', () => {
  it('every apt-get waits for the lock unattended-upgrades holds after the first boot, and the line is valid sh', async () => {
    const { TOOLCHAIN_INSTALL } = await import('../../src/roles/redis/index.js');
    const calls = TOOLCHAIN_INSTALL.split(/&&|;/).filter((c) => /apt-get/.test(c));
    assert.equal(calls.length, 2);
    for (const c of calls) assert.match(c, /apt-get -o DPkg::Lock::Timeout=600 /, c);
    const { execFileSync } = await import('node:child_process');
    execFileSync('sh', ['-n', '-c', TOOLCHAIN_INSTALL]);
  });
});
