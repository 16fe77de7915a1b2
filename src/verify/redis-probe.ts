import { Redis } from 'ioredis';

export interface RedisTarget {
  host: string;
  port: number;
  password?: string;
}

/** A client that fails fast instead of retrying: for checks, not for long-lived use. */
export function checkClient(target: RedisTarget, timeoutMs = 2000): Redis {
  const client = new Redis({
    host: target.host,
    port: target.port,
    password: target.password,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    // the ready check sends INFO, which an unauthenticated client is refused: we want that refusal from our own command
    enableReadyCheck: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  return client;
}

/** Connects, authenticates and PINGs; returns "PONG" or the error text. */
export async function pingRedis(target: RedisTarget, timeoutMs = 2000): Promise<string> {
  const client = checkClient(target, timeoutMs);
  // ioredis reports a dropped connection as "Connection is closed."; the socket's own error says why
  let cause: string | undefined;
  client.on('error', (err: Error) => (cause ??= err.message));
  try {
    await client.connect();
    return await client.ping();
  } catch (err) {
    const message = (err as Error).message;
    return cause && cause !== message ? `${message} (${cause})` : message;
  } finally {
    client.disconnect();
  }
}

export async function withRedis<T>(target: RedisTarget, fn: (c: Redis) => Promise<T>, timeoutMs = 2000): Promise<T> {
  const client = checkClient(target, timeoutMs);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}
