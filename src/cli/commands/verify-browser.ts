import { webMachines } from '../../spec/types.js';
import { browserCheck, type BrowserReport } from '../../verify/browser.js';
import type { Lab } from '../context.js';
import type { Reporter } from '../reporter.js';

/** `verify --browser`: two real Chromium windows, one per web node. */
export async function runBrowserCheck(lab: Lab, reporter: Reporter): Promise<BrowserReport> {
  const nodes = webMachines(lab.spec).map((m) => ({ name: m.name, url: `http://${m.ip}:${lab.spec.app.port}/` }));
  for (const m of webMachines(lab.spec)) await lab.provider.access(lab, m).guardRoute?.();
  reporter.info('  browser: one Chromium window per web node');
  return browserCheck(nodes, lab.store.paths.screenshots);
}
