import type { MachineSpec } from '../../spec/types.js';
import { OperationError } from '../../util/errors.js';
import { runHost } from '../../util/exec.js';
import { SshTransport } from '../../transports/ssh.js';
import { ensureLabClientKey, hostKeyFact, labClientKeyExists } from '../lab-keys.js';
import type { LabContext } from '../provider.js';
import { bridgeName } from './names.js';

/**
 * Opens SSH to a netns machine. First makes sure the host routes the machine's address
 * through the lab's own bridge: without it, the packets would leave for the host's
 * default route, and labctl never sends traffic anywhere but its own lab.
 */
export async function connectNetns(lab: LabContext, m: MachineSpec, timeoutMs = 8000): Promise<SshTransport> {
  await assertRoutedToLab(lab, m.ip);
  const hostKey = lab.store.fact<string>(hostKeyFact(m.name));
  if (!hostKey || !labClientKeyExists(lab.store)) {
    throw new OperationError(`${m.name} has no recorded host key: run labctl create first`);
  }
  return SshTransport.connect(
    { name: m.name, host: m.ip, username: 'root', privateKey: ensureLabClientKey(lab.store).privateKey, hostKey },
    timeoutMs,
  );
}

export async function assertRoutedToLab(lab: LabContext, ip: string): Promise<void> {
  const bridge = bridgeName(lab.spec.name);
  const r = await runHost('ip', ['-j', 'route', 'get', ip], { allowFail: true });
  const dev = r.code === 0 ? (JSON.parse(r.stdout) as { dev?: string }[])[0]?.dev : undefined;
  if (dev !== bridge) {
    throw new OperationError(`${ip} is not reachable through the lab's bridge ${bridge} (is the lab created? run labctl create)`);
  }
}
