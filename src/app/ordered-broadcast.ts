import { Adapter, MessageType } from 'socket.io-adapter';

type BroadcastOpts = Parameters<Adapter['broadcast']>[1];
interface ClusterAdapterLike {
  broadcast(packet: unknown, opts: BroadcastOpts): void;
  publishAndReturnOffset(message: unknown): Promise<unknown>;
}

/**
 * socket.io-adapter's ClusterAdapter (which the sharded Redis adapter extends) hands a broadcast
 * to this server's own clients only once its publish has been answered. While a shard fails over,
 * publishes are answered out of order (a refused one after a later one that went through), so this
 * server's own clients received messages out of order (measured on netns: 8-14 of 2,688 per node
 * in an 8 s failover). Here the publish is sent at once, in call order, without waiting, and the
 * local clients get the packet right away, as the classic pub/sub adapter does. What the publish
 * returns (a stream offset) only matters to connection state recovery, which pub/sub does not use.
 */
export function broadcastWithoutWaiting<T extends object>(adapter: T): T {
  const a = adapter as unknown as ClusterAdapterLike;
  a.broadcast = (packet, opts) => {
    if (!opts.flags?.local) {
      a.publishAndReturnOffset({
        type: MessageType.BROADCAST,
        data: { packet, opts: { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags } },
      }).catch(() => {
        // the message reaches only this server's clients: pub/sub's at most once (redis-cluster-link.ts logs it)
      });
    }
    Adapter.prototype.broadcast.call(adapter as unknown as Adapter, packet as Parameters<Adapter['broadcast']>[0], opts);
  };
  return adapter;
}
