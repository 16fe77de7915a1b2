import { lbMachine, LB_PORT, webMachines } from '../../spec/types.js';
import { browserCheck, type BrowserReport } from '../../verify/browser.js';
import type { Lab } from '../context.js';
import type { Reporter } from '../reporter.js';

/**
 * `verify --browser`: two real Chromium windows, one per web node; with a load balancer, both
 * on its address (the lab's address for browsers). The two windows share one browser profile and
 * so the sticky cookie: they are served by the same web node, as two tabs of one user would be.
 */
export async function runBrowserCheck(lab: Lab, reporter: Reporter): Promise<BrowserReport> {
  const lb = lbMachine(lab.spec);
  if (lb) {
    await lab.provider.access(lab, lb).guardRoute?.();
    const url = `http://${lb.ip}:${LB_PORT}/`;
    reporter.info(`  browser: two Chromium windows on the load balancer ${url}`);
    return browserCheck([1, 2].map((i) => ({ name: `${lb.name}-${i}`, url, anyOrigin: true })), lab.store.paths.screenshots);
  }
  const nodes = webMachines(lab.spec).map((m) => ({ name: m.name, url: `http://${m.ip}:${lab.spec.app.port}/` }));
  for (const m of webMachines(lab.spec)) await lab.provider.access(lab, m).guardRoute?.();
  reporter.info('  browser: one Chromium window per web node');
  return browserCheck(nodes, lab.store.paths.screenshots);
}
