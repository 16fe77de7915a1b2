/**
 * Entry point of the chat app, bundled into dist/app/server.cjs. CommonJS because iisnode loads the
 * entry with require(); everything it needs is inside the bundle, so a node needs no npm install.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Server } from 'socket.io';
import { backplaneOptions } from './adapter.js';
import { attachChat, type ChatServer } from './chat.js';
import { ConfigError, loadConfig, type AppConfig } from './config.js';
import { createHttpHandler, loadAssets } from './http.js';
import { createLog, type Log } from './log.js';
import type { HealthReport } from './protocol.js';
import { createRedisLink } from './redis-link.js';

/** Past this, a stop that is still waiting on a client or on Redis is cut short. */
const STOP_DEADLINE_MS = 4000;

function main(): void {
  let config: AppConfig;
  let assets: ReturnType<typeof loadAssets>;
  try {
    config = loadConfig(process.env, {
      publicDir: path.join(__dirname, 'public'),
      hostname: os.hostname(),
      readFile: (file) => readFileSync(file, 'utf8'),
    });
    assets = loadAssets(config.publicDir);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`chat: ${err.message}\n`);
    process.exit(2);
  }

  const log = createLog(config.node);
  const build = buildId();
  // Redis and socket.io report their failures through events; a rejection nobody awaited is a bug
  // in a corner of some library, and one such bug should not take every local client down with it.
  process.on('unhandledRejection', (reason) => {
    log(`unhandled rejection: ${reason instanceof Error ? reason.message : String(reason)}`);
  });

  const link = createRedisLink(config, log);
  const health = (): HealthReport => ({
    node: config.node,
    channel: config.channel,
    redis: link.state(),
    clients: io.of('/').sockets.size,
    uptimeMs: Math.round(process.uptime() * 1000),
    pid: process.pid,
    build,
  });
  // The page handler must be registered before socket.io attaches: engine.io wraps the request
  // listeners present at that moment and hands them everything outside /socket.io/.
  const httpServer = createServer(createHttpHandler(assets, health));
  const io: ChatServer = new Server(httpServer, {
    path: '/socket.io/',
    serveClient: false,
    transports: ['polling', 'websocket'],
    allowUpgrades: true,
    // A maximal message (1,000 characters, each escaped to 6 bytes of JSON) stays far below this;
    // anything bigger is not a chat message and engine.io closes that connection.
    maxHttpBufferSize: 64 * 1024,
    ...backplaneOptions(config, link),
  });
  attachChat(io, { node: config.node, channel: config.channel, rate: config.rate, link });

  httpServer.once('error', (err: NodeJS.ErrnoException) => {
    process.stderr.write(`chat: cannot listen on ${describeTarget(config)}: ${err.code ?? err.message}\n`);
    process.exit(1);
  });
  httpServer.once('listening', () => {
    log(
      `listening on ${describeAddress(httpServer)} channel=${config.channel} backplane=${config.backplane} ` +
        `redis=${config.topology === 'cluster' ? `cluster:${config.nodes.map((n) => `${n.host}:${n.port}`).join(',')}` : `${config.redis.host}:${config.redis.port}`} auth=${config.redis.password === undefined ? 'none' : config.redis.username !== undefined ? `user ${config.redis.username}` : 'password'}`,
    );
  });
  if (config.listen.kind === 'port') httpServer.listen(config.listen.port, config.listen.host);
  else httpServer.listen(config.listen.path);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal} received, stopping`);
    setTimeout(() => {
      log(`stop still waiting after ${STOP_DEADLINE_MS} ms, exiting anyway`);
      process.exit(0);
    }, STOP_DEADLINE_MS).unref();
    await closeSockets(io, httpServer, log);
    await link.close(1000);
    log('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

async function closeSockets(io: ChatServer, httpServer: HttpServer, log: Log): Promise<void> {
  const closed = io.close();
  // io.close() ends socket.io's connections and then waits for the HTTP server to drain; idle
  // keep-alive connections (browsers, polling clients) would hold that open until they time out.
  setImmediate(() => httpServer.closeAllConnections());
  try {
    await closed;
  } catch (err) {
    log(`closing connections failed: ${(err as Error).message}`);
  }
}

/**
 * The build this process runs: the sha256 of its own bundle file (server.cjs), read once at
 * start, so a file replaced later (a publish under way) does not change what it reports.
 */
function buildId(): string {
  try {
    return createHash('sha256').update(readFileSync(__filename)).digest('hex');
  } catch {
    return 'unknown';
  }
}

function describeTarget(config: AppConfig): string {
  const l = config.listen;
  return l.kind === 'pipe' ? l.path : `${l.host ?? '*'}:${l.port}`;
}

function describeAddress(server: HttpServer): string {
  const address = server.address();
  if (address === null) return '?';
  if (typeof address === 'string') return address;
  const { address: host, port } = address as AddressInfo;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

main();
