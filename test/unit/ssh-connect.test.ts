/**
 * SshTransport.connect against loopback servers that misbehave: it must reject with a clear
 * OperationError, and never let a second error event of the ssh2 client crash the process.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { generateSshKeyPair, SshTransport } from '../../src/transports/ssh.js';
import { OperationError } from '../../src/util/errors.js';
import { sleep } from '../helpers/wait.js';

const servers: net.Server[] = [];
after(() => servers.forEach((s) => s.close()));

/** A loopback server that accepts, says nothing, and drops each connection after `dropAfterMs`. */
async function silentServer(dropAfterMs: number): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    setTimeout(() => socket.destroy(), dropAfterMs);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

function target(port: number) {
  const client = generateSshKeyPair('client');
  return { name: 'm1', host: '127.0.0.1', port, username: 'root', privateKey: client.privateKey, hostKey: generateSshKeyPair('host').publicKey };
}

test('a server that never answers and then drops the connection: one clear error, no crash', async () => {
  const port = await silentServer(300);
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    await assert.rejects(SshTransport.connect(target(port), 150), (err: unknown) => {
      assert.ok(err instanceof OperationError);
      assert.match(err.message, /^cannot reach m1 over SSH at 127\.0\.0\.1: Timed out while waiting for handshake$/);
      return true;
    });
    await sleep(600); // the server drops the connection meanwhile: ssh2 reports a second error
    assert.deepEqual(uncaught.map(String), [], 'a later error of the same connection escaped');
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});

test('a connection dropped before the handshake is an OperationError', async () => {
  const port = await silentServer(50);
  await assert.rejects(SshTransport.connect(target(port), 5000), (err: unknown) => {
    assert.ok(err instanceof OperationError);
    assert.match(err.message, /^cannot reach m1 over SSH at 127\.0\.0\.1: /);
    return true;
  });
});

test('a changed host key is refused before any login, naming the machine and how to recover', async () => {
  const { default: ssh2 } = await import('ssh2');
  const real = generateSshKeyPair('the key the machine now has');
  let authAttempts = 0;
  const server = new ssh2.Server({ hostKeys: [real.privateKey] }, (client) => {
    client.on('authentication', (ctx) => {
      authAttempts++;
      ctx.reject();
    });
    client.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as net.AddressInfo).port;
    // pinned: the key labctl recorded when it made the machine, not the one it has now
    await assert.rejects(SshTransport.connect({ ...target(port), name: 'redis' }, 3000), (err: unknown) => {
      assert.ok(err instanceof OperationError);
      assert.match(err.message, /^redis \(127\.0\.0\.1\) presented a host key that is not the one labctl recorded; refusing to connect$/);
      assert.match(err.details.join('\n'), /never accepts a changed key/);
      assert.match(err.details.join('\n'), /labctl teardown, then labctl create/);
      return true;
    });
    assert.equal(authAttempts, 0, 'no credential was offered to the impostor');
    // and the right pin connects: the refusal was the key's doing
    const ok = await SshTransport.connect({ ...target(port), hostKey: real.publicKey }, 3000).catch((e: Error) => e);
    assert.ok(ok instanceof OperationError && /authentication/i.test(ok.message), String(ok));
    assert.equal(authAttempts > 0, true, 'with the right key it got as far as logging in');
  } finally {
    server.close();
  }
});
