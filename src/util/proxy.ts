import { ProxyAgent, fetch as undiciFetch } from 'undici';
import { contains, parseIPv4, subnetOf } from '../spec/ipv4.js';

/** The proxy settings of labctl's environment, as curl and most tools read them. */
export interface ProxySettings {
  http?: string;
  https?: string;
  noProxy?: string;
}

export function proxyFromEnv(env: NodeJS.ProcessEnv = process.env): ProxySettings | undefined {
  const pick = (...names: string[]) => names.map((n) => env[n]?.trim()).find((v) => v);
  const http = pick('HTTP_PROXY', 'http_proxy');
  const https = pick('HTTPS_PROXY', 'https_proxy') ?? http;
  const noProxy = pick('NO_PROXY', 'no_proxy');
  if (!http && !https) return undefined;
  return { http: http ?? https, https, noProxy };
}

/**
 * Whether NO_PROXY exempts a host, as curl reads it: "*" for every host; otherwise a comma
 * list of names (matching the name and its subdomains, a leading dot optional), addresses,
 * and IPv4 ranges in CIDR form; a ":port" suffix limits an entry to that port.
 */
export function bypassesProxy(host: string, port: string, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const name = host.replace(/^\[|\]$/g, '').toLowerCase();
  for (const raw of noProxy.split(',')) {
    let entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const withPort = /^(.*):(\d+)$/.exec(entry);
    if (withPort && !entry.includes('/')) {
      if (withPort[2] !== port) continue;
      entry = withPort[1]!;
    }
    if (entry.includes('/')) {
      const [net, bits] = entry.split('/');
      const address = parseIPv4(name);
      const network = parseIPv4(net ?? '');
      const prefix = Number(bits);
      if (address !== undefined && network !== undefined && prefix >= 0 && prefix <= 32 && contains(subnetOf(network, prefix), address)) return true;
      continue;
    }
    entry = entry.replace(/^\*?\./, '');
    if (name === entry || name.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/**
 * fetch for downloads: through HTTPS_PROXY / HTTP_PROXY unless NO_PROXY exempts the host,
 * as curl does (Node's own fetch ignores those variables).
 */
export function proxiedFetch(url: string, init: { redirect?: 'follow' | 'manual'; signal?: AbortSignal } = {}): Promise<Response> {
  const settings = proxyFromEnv();
  const u = new URL(url);
  const proxy = u.protocol === 'https:' ? settings?.https : settings?.http;
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  if (!proxy || bypassesProxy(u.hostname, port, settings?.noProxy)) return fetch(url, init);
  return undiciFetch(url, { ...init, dispatcher: new ProxyAgent(proxy) }) as unknown as Promise<Response>;
}
