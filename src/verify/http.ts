import https from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: string;
}

/** One bounded GET: a lab check must never hang. */
export async function httpGet(url: string, timeoutMs = 2000): Promise<HttpAnswer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

export interface Health {
  node: string;
  channel: string;
  redis: string;
  clients: number;
  uptimeMs: number;
  pid: number;
  /** sha256 of the server bundle the node runs (absent from an app built before it reported one) */
  build?: string;
}

export async function getHealth(host: string, port: number, timeoutMs = 2000): Promise<Health> {
  const r = await httpGet(`http://${host}:${port}/healthz`, timeoutMs);
  if (r.status !== 200) throw new Error(`GET /healthz answered ${r.status}`);
  return JSON.parse(r.body) as Health;
}

export interface HttpsProbe {
  status: number;
  /** the server certificate's subject CN and whether it is its own issuer (self-signed) */
  certificate?: { subject: string; selfSigned: boolean };
}

/**
 * One bounded HTTPS GET that accepts any certificate (a management endpoint with a
 * self-signed one) and sends no credentials: what answers, and with which certificate.
 */
export function httpsProbe(url: string, timeoutMs = 3000): Promise<HttpsProbe> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: timeoutMs, agent: false }, (res) => {
      const cert = (res.socket as TLSSocket).getPeerCertificate?.();
      res.resume();
      res.on('end', () => {
        const subject = cert?.subject?.CN;
        resolve({
          status: res.statusCode ?? 0,
          certificate: subject !== undefined ? { subject: String(subject), selfSigned: cert!.issuer?.CN === cert!.subject?.CN } : undefined,
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
