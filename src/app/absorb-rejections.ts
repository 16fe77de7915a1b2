import type { Cluster, Redis } from 'ioredis';

/**
 * The socket.io adapters call some client methods without handling the returned promise, and
 * ioredis itself re-subscribes the same way after a reconnect. A command that fails while Redis
 * (or one shard of a cluster) is away would then be an unhandled rejection, which ends a Node 20
 * process. Wraps `methodNames` so such a failure goes to `onRejected` instead; callers that do
 * await the promise still see the rejection.
 */
export function absorbRejections(
  client: Redis | Cluster,
  methodNames: readonly string[],
  onRejected: (method: string, err: Error) => void,
): void {
  const methods = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of methodNames) {
    const original = methods[name]!.bind(client);
    methods[name] = (...args: unknown[]) => {
      const result = original(...args);
      if (result instanceof Promise) result.catch((err: Error) => onRejected(name, err));
      return result;
    };
  }
}
