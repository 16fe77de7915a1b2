import { existsSync } from 'node:fs';
import { overlaps, parseIPv4, subnetOf, type Subnet } from '../../spec/ipv4.js';
import { PreflightError } from '../../util/errors.js';
import { runHost } from '../../util/exec.js';
import type { LabContext } from '../provider.js';
import { bridgeName, namespaceName } from './names.js';
import { linkExists, namespaceExists } from './host.js';

export const SSHD = '/usr/sbin/sshd';

/** Each failed check is one line: what is wrong and what to do. */
export async function netnsPreflight(lab: LabContext): Promise<void> {
  if (process.platform !== 'linux') {
    throw new PreflightError('the netns provider needs Linux; on Windows use --provider hyperv');
  }
  if (process.getuid?.() !== 0) {
    throw new PreflightError('the netns provider creates network namespaces and must run as root: sudo npx labctl ...');
  }
  if (!(await hasCommand('ip'))) throw new PreflightError('`ip` is missing: install iproute2 (apt-get install iproute2)');
  if (!existsSync(SSHD)) throw new PreflightError(`${SSHD} is missing: install openssh-server (apt-get install openssh-server)`);

  const ours = new Set(lab.store.resources().map((r) => `${r.kind}:${r.id}`));
  const bridge = bridgeName(lab.spec.name);
  if (!ours.has(`bridge:${bridge}`) && (await linkExists(bridge))) {
    throw new PreflightError(`a link named ${bridge} exists but this lab did not create it: remove it (ip link del ${bridge}) or rename the lab`);
  }
  for (const m of lab.spec.machines) {
    const ns = namespaceName(lab.spec.name, m.name);
    if (!ours.has(`netns:${ns}`) && namespaceExists(ns)) {
      throw new PreflightError(`network namespace ${ns} exists but this lab did not create it: remove it (ip netns del ${ns}) or rename the lab`);
    }
  }
  const conflict = await routedOverlap(lab.spec.network.subnet, bridge);
  if (conflict) {
    throw new PreflightError(
      `network.subnet ${lab.spec.network.cidr} in ${lab.spec.file} overlaps ${conflict} already on this host: choose another subnet`,
    );
  }
}

/** A route or address on the host that overlaps the subnet, other than the lab's own bridge. */
async function routedOverlap(subnet: Subnet, ownBridge: string): Promise<string | undefined> {
  const routes = JSON.parse((await runHost('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])).stdout || '[]') as {
    dst: string;
    dev?: string;
    type?: string;
  }[];
  for (const r of routes) {
    if (r.dst === 'default' || r.dev === ownBridge) continue;
    if (r.type && !['unicast', 'local', 'blackhole', 'unreachable', 'prohibit'].includes(r.type)) continue;
    const [addr, bits] = r.dst.split('/');
    const address = parseIPv4(addr ?? '');
    if (address === undefined) continue;
    if (overlaps(subnetOf(address, bits === undefined ? 32 : Number(bits)), subnet)) return `${r.dst} (route${r.dev ? ` on ${r.dev}` : ''})`;
  }
  return undefined;
}

async function hasCommand(name: string): Promise<boolean> {
  const r = await runHost('sh', ['-c', `command -v ${name}`], { allowFail: true });
  return r.code === 0;
}
