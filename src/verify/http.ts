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
}

export async function getHealth(host: string, port: number, timeoutMs = 2000): Promise<Health> {
  const r = await httpGet(`http://${host}:${port}/healthz`, timeoutMs);
  if (r.status !== 200) throw new Error(`GET /healthz answered ${r.status}`);
  return JSON.parse(r.body) as Health;
}
