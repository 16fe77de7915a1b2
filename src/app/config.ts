export type ListenTarget =
  | { kind: 'port'; port: number; host: string | undefined }
  /** a Unix socket path, or the Windows named pipe iisnode hands over (`\\.\pipe\...`) */
  | { kind: 'pipe'; path: string };

export interface AppConfig {
  listen: ListenTarget;
  /** username: a Redis ACL user of the app's own (labctl's `chat`); none: the default user */
  redis: { host: string; port: number; username: string | undefined; password: string | undefined };
  /** single: one Redis at redis.host:port; cluster: a Redis Cluster found through `nodes` (its seeds) */
  topology: 'single' | 'cluster';
  /** cluster only: every node of the lab's cluster (REDIS_NODES), used as seed nodes */
  nodes: { host: string; port: number }[];
  channel: string;
  /** pubsub: @socket.io/redis-adapter; streams: @socket.io/redis-streams-adapter with connection state recovery */
  backplane: 'pubsub' | 'streams';
  node: string;
  rate: { perSecond: number; burst: number };
  publicDir: string;
  /** how often an idle Redis link is pinged to notice a peer that vanished without a TCP reset */
  redisWatchdogMs: number;
}

/** A setting is wrong; the message is one line that names the variable and never shows a secret. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface ConfigDefaults {
  publicDir: string;
  hostname: string;
  readFile: (path: string) => string;
}

export const DEFAULT_PORT = 3000;

// Same rule as the lab spec's redis.channel. The adapter subscribes to the pattern `${key}#*`,
// so glob characters in the key would silently widen or break that subscription.
const CHANNEL_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const PIPE_RE = /^\\\\[.?]\\pipe\\./i;
const HOSTISH_RE = /^[^\s\p{Cc}]{1,255}$/u;

export function loadConfig(env: NodeJS.ProcessEnv, defaults: ConfigDefaults): AppConfig {
  const problems: string[] = [];
  const problem = (text: string) => problems.push(text);
  const value = (key: string) => {
    const v = env[key];
    return v === undefined || v === '' ? undefined : v;
  };

  const listen = parseListen(value('PORT'), value('HOST'), problem);

  const redisHost = value('REDIS_HOST') ?? '127.0.0.1';
  if (!HOSTISH_RE.test(redisHost)) problem(`REDIS_HOST must be a host name or address, got ${show(redisHost)}`);
  const redisPort = parseInteger('REDIS_PORT', value('REDIS_PORT'), 6379, 1, 65535, problem);
  const username = value('REDIS_USERNAME');
  if (username !== undefined && !/^[A-Za-z0-9_.:-]{1,64}$/.test(username)) {
    problem(`REDIS_USERNAME must be 1-64 letters, digits, "_", ".", ":" or "-", got ${show(username)}`);
  }
  const password = readPassword(value('REDIS_PASSWORD_FILE'), defaults.readFile, problem);
  if (username !== undefined && password === undefined && !problems.some((p) => p.startsWith('REDIS_PASSWORD_FILE'))) {
    problem('REDIS_USERNAME needs REDIS_PASSWORD_FILE (the password of that user)');
  }

  const channel = value('CHANNEL') ?? 'ChatApp';
  if (!CHANNEL_RE.test(channel)) {
    problem(`CHANNEL must be 1-64 letters, digits, "_", ".", ":" or "-", got ${show(channel)}`);
  }

  const backplane = value('BACKPLANE') ?? 'pubsub';
  if (backplane !== 'pubsub' && backplane !== 'streams') problem(`BACKPLANE must be pubsub or streams, got ${show(backplane)}`);

  const topology = value('REDIS_TOPOLOGY') ?? 'single';
  if (topology !== 'single' && topology !== 'cluster') problem(`REDIS_TOPOLOGY must be single or cluster, got ${show(topology)}`);
  const nodes = parseNodes(value('REDIS_NODES'), problem);
  if (topology === 'cluster') {
    if (nodes === undefined) problem('REDIS_TOPOLOGY=cluster needs REDIS_NODES (ip:port,ip:port,... of the cluster\'s nodes)');
    // the streams adapter keeps one stream key: it has nothing to shard, the cluster backplane is sharded pub/sub
    if (backplane === 'streams') problem('REDIS_TOPOLOGY=cluster works with BACKPLANE=pubsub only (sharded pub/sub), got BACKPLANE="streams"');
  } else if (nodes !== undefined) {
    problem('REDIS_NODES applies only to REDIS_TOPOLOGY=cluster (a single Redis is REDIS_HOST and REDIS_PORT)');
  }

  const node = value('NODE_NAME') ?? defaults.hostname;
  if (node.length > 64 || !/^[^\p{Cc}]+$/u.test(node)) {
    problem(`NODE_NAME must be 1-64 printable characters, got ${show(node)}`);
  }

  const perSecond = parseRate(value('RATE_PER_SEC'), problem);
  const burst = parseInteger('RATE_BURST', value('RATE_BURST'), 40, 1, 100_000, problem);
  const redisWatchdogMs = parseInteger('REDIS_WATCHDOG_MS', value('REDIS_WATCHDOG_MS'), 5000, 100, 600_000, problem);

  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  return {
    listen: listen!,
    redis: { host: redisHost, port: redisPort, username, password },
    topology: topology as AppConfig['topology'],
    nodes: nodes ?? [],
    channel,
    backplane: backplane as AppConfig['backplane'],
    node,
    rate: { perSecond, burst },
    publicDir: value('PUBLIC_DIR') ?? defaults.publicDir,
    redisWatchdogMs,
  };
}

/** `ip:port,ip:port,...`; undefined when unset (a problem is noted for a malformed list) */
function parseNodes(raw: string | undefined, problem: (t: string) => void): AppConfig['nodes'] | undefined {
  if (raw === undefined) return undefined;
  const nodes: AppConfig['nodes'] = [];
  for (const entry of raw.split(',')) {
    const m = /^([^\s:,]{1,255}):(\d{1,5})$/.exec(entry.trim());
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535 || !HOSTISH_RE.test(m[1]!)) {
      problem(`REDIS_NODES must be host:port[,host:port...], got ${show(raw)}`);
      return undefined;
    }
    nodes.push({ host: m[1]!, port });
  }
  return nodes;
}

/** Quotes a user value for an error line, cut short so a pasted blob cannot flood the log. */
function show(v: string): string {
  return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v);
}

function parseListen(
  port: string | undefined,
  host: string | undefined,
  problem: (t: string) => void,
): ListenTarget | undefined {
  if (port === undefined || /^\d+$/.test(port)) {
    const n = port === undefined ? DEFAULT_PORT : Number(port);
    if (n > 65535) {
      problem(`PORT must be 0-65535 or a pipe/socket path, got ${show(port!)}`);
      return undefined;
    }
    if (host !== undefined && !HOSTISH_RE.test(host)) {
      problem(`HOST must be an address to bind to, got ${show(host)}`);
      return undefined;
    }
    return { kind: 'port', port: n, host };
  }
  if (PIPE_RE.test(port) || port.includes('/')) {
    if (host !== undefined) {
      problem(`HOST applies only to a numeric PORT; PORT is the path ${show(port)}`);
      return undefined;
    }
    return { kind: 'pipe', path: port };
  }
  problem(`PORT must be 0-65535 or a pipe/socket path, got ${show(port)}`);
  return undefined;
}

function parseInteger(
  key: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
  problem: (t: string) => void,
): number {
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) {
    problem(`${key} must be a whole number from ${min} to ${max}, got ${show(raw)}`);
    return fallback;
  }
  return n;
}

function parseRate(raw: string | undefined, problem: (t: string) => void): number {
  if (raw === undefined) return 20;
  const n = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!(n > 0 && n <= 100_000)) {
    problem(`RATE_PER_SEC must be a number above 0 and at most 100000, got ${show(raw)}`);
    return 20;
  }
  return n;
}

function readPassword(
  path: string | undefined,
  readFile: (path: string) => string,
  problem: (t: string) => void,
): string | undefined {
  if (path === undefined) return undefined;
  let content: string;
  try {
    content = readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    problem(`REDIS_PASSWORD_FILE ${show(path)} cannot be read (${code})`);
    return undefined;
  }
  // Files written by `echo` or editors end in a newline that is not part of the password.
  const password = content.replace(/\r?\n$/, '');
  if (password.length === 0) {
    problem(`REDIS_PASSWORD_FILE ${show(path)} is empty`);
    return undefined;
  }
  return password;
}
