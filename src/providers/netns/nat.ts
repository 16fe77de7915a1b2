import type { Step } from '../../engine/step.js';
import { runHost } from '../../util/exec.js';
import type { LabContext } from '../provider.js';
import { bridgeName, natTableName } from './names.js';

/**
 * Only when the spec asks for it (network.nat): masquerade the lab's subnet out of the
 * host in an nftables table of the lab's own, and turn IPv4 forwarding on, remembering
 * its earlier value so teardown can put it back.
 */
export function natStep(lab: LabContext): Step {
  const table = natTableName(lab.spec.name);
  const bridge = bridgeName(lab.spec.name);
  return {
    id: 'net:nat',
    title: `NAT for ${lab.spec.network.cidr} (nftables table ${table})`,
    deps: ['net:bridge'],
    check: async () => {
      const r = await runHost('nft', ['list', 'table', 'ip', table], { allowFail: true });
      const fwd = await runHost('sysctl', ['-n', 'net.ipv4.ip_forward'], { allowFail: true });
      return r.code === 0 && fwd.stdout.trim() === '1';
    },
    apply: async (ctx) => {
      const before = (await runHost('sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim();
      ctx.record({ kind: 'nat', id: table, data: { forwardingWas: before } });
      const rules = [
        `table ip ${table} {`,
        '  chain postrouting {',
        '    type nat hook postrouting priority srcnat; policy accept;',
        `    ip saddr ${lab.spec.network.cidr} oifname != "${bridge}" masquerade`,
        '  }',
        '}',
      ].join('\n');
      await runHost('nft', ['-f', '-'], { input: rules });
      await runHost('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    },
  };
}

export async function removeNat(table: string, forwardingWas: string | undefined): Promise<void> {
  await runHost('nft', ['delete', 'table', 'ip', table], { allowFail: true });
  if (forwardingWas !== '0') return;
  // another lab may still rely on forwarding: put the old value back only when no lab table is left
  const tables = await runHost('nft', ['list', 'tables', 'ip'], { allowFail: true });
  if (!/labctl_/.test(tables.stdout)) await runHost('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']);
}
