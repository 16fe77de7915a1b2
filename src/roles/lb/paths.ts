import path from 'node:path';

/** Where the lb role puts things on a machine; `root` is "" on a VM, the machine's folder on netns. */
export function lbPaths(root: string) {
  const p = (...parts: string[]) => path.posix.join(root || '/', ...parts);
  return {
    /** Ubuntu's haproxy package reads this one; on netns it is inside the machine's folder */
    config: p('etc/haproxy/haproxy.cfg'),
    pidFile: p('run/haproxy/haproxy.pid'),
    /** HAProxy's stats socket ("show stat": each server UP or DOWN) */
    statsSocket: p('run/haproxy/stats.sock'),
    /** sha256 of the config the running HAProxy was started (or reloaded) with */
    running: p('run/haproxy/config.sha256'),
  };
}

/** The distribution's HAProxy: the host's on netns (the machines share its filesystem), the package's on a VM. */
export const HAPROXY_BINARY = '/usr/sbin/haproxy';
