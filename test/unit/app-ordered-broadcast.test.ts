/**
 * The sharded adapter's broadcast to this server's own clients must not wait for its publish
 * (src/app/ordered-broadcast.ts): while a shard fails over, publishes are answered out of order,
 * and socket.io-adapter's ClusterAdapter delivered locally only once each was answered, so the
 * server's own clients saw messages out of order (found on netns by verify --fault redis-failover).
 * Here the real sharded adapter runs over fake Redis clients whose SPUBLISH answers are held and
 * released in reverse order.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { Server } from 'socket.io';
import { broadcastWithoutWaiting } from '../../src/app/ordered-broadcast.js';

function setup(wrap: boolean) {
  const held: { channel: string; release: () => void; fail: () => void }[] = [];
  const pub = {
    spublish: (channel: string) =>
      new Promise<number>((resolve, reject) => held.push({ channel, release: () => resolve(1), fail: () => reject(new Error('CLUSTERDOWN')) })),
  };
  const sub = Object.assign(new EventEmitter(), { ssubscribe: async () => 1, sunsubscribe: async () => 1 });
  const sharded = createShardedAdapter(pub, sub, { channelPrefix: 'ChatApp', subscriptionMode: 'static' });
  const io = new Server({ adapter: wrap ? (function (nsp: Parameters<typeof sharded>[0]) { return broadcastWithoutWaiting(sharded(nsp)); } as unknown as typeof sharded) : sharded });
  const nsp = io.of('/');
  // one local client, as the adapter sees it: its id in a room of its own, and what it is written
  const delivered: string[] = [];
  const socket = { id: 'local-client-000000', client: { writeToEngine: (packets: unknown[]) => delivered.push(String(packets[0])) } };
  (nsp.sockets as Map<string, unknown>).set(socket.id, socket);
  nsp.adapter.addAll(socket.id, new Set([socket.id]));
  const broadcast = (text: string) => nsp.adapter.broadcast({ type: 2, data: ['chat', text], nsp: '/' } as never, { rooms: new Set(), except: new Set(), flags: {} });
  const texts = () => delivered.map((p) => JSON.parse(p.slice(1))[1] as string);
  // a Server without an HTTP server holds no handles: nothing to close but the adapter's subscriptions
  return { held, broadcast, texts, close: () => void nsp.adapter.close() };
}

describe('the sharded adapter\'s local delivery does not wait for its publish', () => {
  it('delivers to its own clients at once and in order, whatever order the publishes are answered in', async () => {
    const s = setup(true);
    try {
      s.broadcast('one');
      s.broadcast('two');
      s.broadcast('three');
      assert.deepEqual(s.texts(), ['one', 'two', 'three'], 'delivered before any publish was answered');
      assert.deepEqual(s.held.map((h) => h.channel), ['ChatApp#/#', 'ChatApp#/#', 'ChatApp#/#'], 'published in call order');
      s.held[2]!.release();
      s.held[1]!.fail();
      s.held[0]!.release();
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(s.texts(), ['one', 'two', 'three'], 'nothing twice, a refused publish changes nothing locally');
    } finally {
      s.close();
    }
  });

  it('(the adapter alone waits: answers in reverse order reverse the local delivery)', async () => {
    const s = setup(false);
    try {
      s.broadcast('one');
      s.broadcast('two');
      assert.deepEqual(s.texts(), []);
      s.held[1]!.release();
      await new Promise((r) => setImmediate(r));
      s.held[0]!.release();
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(s.texts(), ['two', 'one'], 'what the wrapper is for');
    } finally {
      s.close();
    }
  });
});
