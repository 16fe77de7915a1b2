import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, type ConfigDefaults } from '../../src/app/config.js';
import { checkChat, checkName } from '../../src/app/limits.js';
import { createLog } from '../../src/app/log.js';
import { TokenBucket } from '../../src/app/rate-limit.js';

const files: Record<string, string> = { '/pw': 'hunter2\n', '/pw-crlf': 'hunter2\r\n', '/pw-two': 'a\n\n', '/empty': '\n' };
const defaults: ConfigDefaults = {
  publicDir: '/bundle/public',
  hostname: 'box',
  readFile: (path) => {
    if (path in files) return files[path]!;
    throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  },
};

function configError(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env, defaults);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

describe('app config', () => {
  it('has the documented defaults', () => {
    assert.deepEqual(loadConfig({}, defaults), {
      listen: { kind: 'port', port: 3000, host: undefined },
      redis: { host: '127.0.0.1', port: 6379, username: undefined, password: undefined },
      topology: 'single',
      nodes: [],
      channel: 'ChatApp',
      backplane: 'pubsub',
      node: 'box',
      rate: { perSecond: 20, burst: 40 },
      publicDir: '/bundle/public',
      redisWatchdogMs: 5000,
    });
  });

  it('picks the backplane from BACKPLANE: pubsub (default) or streams, nothing else', () => {
    assert.equal(loadConfig({ BACKPLANE: 'streams' }, defaults).backplane, 'streams');
    assert.equal(loadConfig({ BACKPLANE: 'pubsub' }, defaults).backplane, 'pubsub');
    assert.match(configError({ BACKPLANE: 'Streams' }), /^BACKPLANE must be pubsub or streams, got "Streams"$/);
    assert.match(configError({ BACKPLANE: 'kafka' }), /^BACKPLANE must be pubsub or streams/);
  });

  it('takes a cluster from REDIS_TOPOLOGY=cluster and its seed nodes from REDIS_NODES', () => {
    const c = loadConfig({ REDIS_TOPOLOGY: 'cluster', REDIS_NODES: '10.0.0.10:6379, 10.0.0.11:6380' }, defaults);
    assert.equal(c.topology, 'cluster');
    assert.deepEqual(c.nodes, [{ host: '10.0.0.10', port: 6379 }, { host: '10.0.0.11', port: 6380 }]);
    assert.equal(loadConfig({ REDIS_TOPOLOGY: 'single' }, defaults).topology, 'single');
    assert.match(configError({ REDIS_TOPOLOGY: 'cluster' }), /^REDIS_TOPOLOGY=cluster needs REDIS_NODES/);
    assert.match(configError({ REDIS_TOPOLOGY: 'sentinel' }), /^REDIS_TOPOLOGY must be single or cluster, got "sentinel"$/);
    assert.match(configError({ REDIS_TOPOLOGY: 'cluster', REDIS_NODES: '10.0.0.10' }), /^REDIS_NODES must be host:port/);
    assert.match(configError({ REDIS_TOPOLOGY: 'cluster', REDIS_NODES: '10.0.0.10:70000' }), /^REDIS_NODES must be host:port/);
    assert.match(configError({ REDIS_TOPOLOGY: 'cluster', REDIS_NODES: '10.0.0.10:6379,' }), /^REDIS_NODES must be host:port/);
    assert.match(configError({ REDIS_TOPOLOGY: 'cluster', REDIS_NODES: '10.0.0.10:6379', BACKPLANE: 'streams' }), /works with BACKPLANE=pubsub only/);
    assert.match(configError({ REDIS_NODES: '10.0.0.10:6379' }), /^REDIS_NODES applies only to REDIS_TOPOLOGY=cluster/);
  });

  it('takes an all-digit PORT as a port and anything path-like as a pipe', () => {
    assert.deepEqual(loadConfig({ PORT: '80', HOST: '10.0.0.5' }, defaults).listen, { kind: 'port', port: 80, host: '10.0.0.5' });
    assert.deepEqual(loadConfig({ PORT: '0' }, defaults).listen, { kind: 'port', port: 0, host: undefined });
    const iisnode = '\\\\.\\pipe\\6f5c0e0a-5e39-4a3b-9c39-1b2cf3a1b6a2';
    assert.deepEqual(loadConfig({ PORT: iisnode }, defaults).listen, { kind: 'pipe', path: iisnode });
    assert.deepEqual(loadConfig({ PORT: '/run/chat.sock' }, defaults).listen, { kind: 'pipe', path: '/run/chat.sock' });
    assert.match(configError({ PORT: 'eighty' }), /^PORT must be/);
    assert.match(configError({ PORT: '65536' }), /^PORT must be/);
    assert.match(configError({ PORT: '-1' }), /^PORT must be/);
    assert.match(configError({ PORT: '/run/chat.sock', HOST: '0.0.0.0' }), /^HOST applies only/);
  });

  it('reads the password from a file, without its trailing newline, and never echoes it', () => {
    assert.equal(loadConfig({ REDIS_PASSWORD_FILE: '/pw' }, defaults).redis.password, 'hunter2');
    assert.equal(loadConfig({ REDIS_PASSWORD_FILE: '/pw-crlf' }, defaults).redis.password, 'hunter2');
    assert.equal(loadConfig({ REDIS_PASSWORD_FILE: '/pw-two' }, defaults).redis.password, 'a\n', 'only one newline is trimmed');
    assert.match(configError({ REDIS_PASSWORD_FILE: '/missing' }), /REDIS_PASSWORD_FILE "\/missing" cannot be read \(ENOENT\)/);
    assert.match(configError({ REDIS_PASSWORD_FILE: '/empty' }), /is empty/);
  });

  it('takes a Redis user of its own (REDIS_USERNAME), which needs its password file', () => {
    assert.deepEqual(loadConfig({ REDIS_USERNAME: 'chat', REDIS_PASSWORD_FILE: '/pw' }, defaults).redis, {
      host: '127.0.0.1',
      port: 6379,
      username: 'chat',
      password: 'hunter2',
    });
    assert.match(configError({ REDIS_USERNAME: 'chat' }), /^REDIS_USERNAME needs REDIS_PASSWORD_FILE/);
    assert.match(configError({ REDIS_USERNAME: 'two words', REDIS_PASSWORD_FILE: '/pw' }), /^REDIS_USERNAME must be/);
    assert.doesNotMatch(configError({ REDIS_USERNAME: 'chat', REDIS_PASSWORD_FILE: '/missing' }), /needs/, 'one problem with the file, not two');
  });

  it('checks the channel like the lab spec does', () => {
    assert.equal(loadConfig({ CHANNEL: 'Lab.Chat-1:x_y' }, defaults).channel, 'Lab.Chat-1:x_y');
    for (const bad of ['Chat*', 'a b', 'x'.repeat(65), 'a#b']) assert.match(configError({ CHANNEL: bad }), /^CHANNEL/);
  });

  it('validates numbers and reports every problem on one line', () => {
    assert.deepEqual(loadConfig({ RATE_PER_SEC: '0.5', RATE_BURST: '3' }, defaults).rate, { perSecond: 0.5, burst: 3 });
    const message = configError({ REDIS_PORT: '99999', RATE_BURST: '0', RATE_PER_SEC: 'fast', NODE_NAME: 'a\tb' });
    for (const key of ['REDIS_PORT', 'RATE_BURST', 'RATE_PER_SEC', 'NODE_NAME']) assert.ok(message.includes(key), key);
    assert.match(configError({ REDIS_HOST: 'two words' }), /^REDIS_HOST/);
  });

  it('treats an empty variable as unset', () => {
    assert.equal(loadConfig({ PORT: '', CHANNEL: '' }, defaults).channel, 'ChatApp');
  });
});

describe('message limits', () => {
  it('trims names and allows 1 to 64 characters', () => {
    assert.deepEqual(checkName('  Ada  '), { ok: true, value: 'Ada' });
    assert.equal(checkName('n'.repeat(64)).ok, true);
    assert.equal(!checkName('n'.repeat(65)).ok && (checkName('n'.repeat(65)) as { code: string }).code, 'too_long');
    assert.deepEqual(checkName(''), { ok: false, code: 'empty', error: 'Please enter a name.' });
    assert.equal((checkName('a\u0007b') as { code: string }).code, 'bad_request');
    assert.equal((checkName(42) as { code: string }).code, 'bad_request');
  });

  it('counts text in UTF-16 code units and keeps it exactly as sent', () => {
    assert.deepEqual(checkChat({ text: '  spaced  ' }), { ok: true, value: '  spaced  ' });
    assert.equal(checkChat({ text: 'x'.repeat(1000) }).ok, true);
    assert.equal((checkChat({ text: 'x'.repeat(1001) }) as { code: string }).code, 'too_long');
    // 500 emoji are 1000 code units (the limit); one more character is over it.
    assert.equal(checkChat({ text: '😀'.repeat(500) }).ok, true);
    assert.equal(checkChat({ text: `${'😀'.repeat(500)}!` }).ok, false);
    assert.equal((checkChat({ text: ' \n ' }) as { code: string }).code, 'empty');
    for (const bad of [null, 'text', { text: 5 }, []]) assert.equal((checkChat(bad) as { code: string }).code, 'bad_request');
  });
});

describe('token bucket', () => {
  it('allows the burst, then refills at the rate, never above the burst', () => {
    let now = 0;
    const bucket = new TokenBucket(2, 3, () => now);
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
    now += 499;
    assert.equal(bucket.take(), false, 'not yet a whole token');
    now += 1;
    assert.equal(bucket.take(), true);
    now += 60_000;
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
  });
});

describe('app log', () => {
  it('writes one line per event, even if the event text has line breaks', () => {
    const lines: string[] = [];
    const log = createLog('web1', (l) => lines.push(l));
    log('redis error: a\nb');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z chat\[web1\] redis error: a b\n$/);
  });
});
