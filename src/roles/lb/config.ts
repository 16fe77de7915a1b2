import { LB_PORT, lbMachine, webMachines, type LabSpec } from '../../spec/types.js';
import { oneLine, renderTemplate } from '../../util/template.js';

/** The cookie HAProxy sets to keep a browser (and its socket.io session) on one chat server. */
export const LB_COOKIE = 'LABCTL_NODE';

/**
 * How often HAProxy asks each server's /healthz, and after how many failures it stops sending
 * to it: a killed app is out of the rotation within CHECK_INTERVAL_MS × CHECK_FALL.
 */
export const CHECK_INTERVAL_MS = 1000;
export const CHECK_FALL = 2;
export const CHECK_RISE = 2;

/** haproxy.cfg for the lab's load balancer, from templates/lb/haproxy.cfg and one server.cfg line per web machine. */
export function renderHaproxyConfig(spec: LabSpec, statsSocket: string): string {
  const lb = lbMachine(spec);
  if (!lb) throw new Error('spec has no lb machine');
  const servers = webMachines(spec)
    .map((m) => renderTemplate('lb/server.cfg', { name: m.name, ip: m.ip, port: spec.app.port }).trimEnd())
    .join('\n');
  // every value but the server block (rendered line by line above) must stay on its own line
  const values: Record<string, string | number> = {
    lab: spec.name,
    statsSocket,
    bind: lb.ip,
    port: LB_PORT,
    cookie: LB_COOKIE,
    checkInterval: `${CHECK_INTERVAL_MS}ms`,
    fall: CHECK_FALL,
    rise: CHECK_RISE,
  };
  for (const v of Object.values(values)) oneLine(String(v));
  return renderTemplate('lb/haproxy.cfg', { ...values, servers }, (v) => v);
}
