import { readFileSync } from 'node:fs';
import { oneLine, renderTemplate, templatePath } from '../../util/template.js';
import { buildIso } from './iso9660.js';
import type { GuestNetwork } from './guest-network.js';
import { macColons } from './names.js';
import type { ProxySettings } from '../../util/proxy.js';

/**
 * The NoCloud seed of an Ubuntu VM: autoinstall user-data and meta-data on a disc labelled
 * CIDATA. The templates are YAML; each value goes in as a JSON string or list, which YAML
 * parses as a quoted scalar or a flow sequence, so no value can break out of its field.
 */
export interface SeedInput extends GuestNetwork {
  user: string;
  authorizedKey: string;
  hostKey: { privateKey: string; publicKey: string };
  /** the host's proxy, for the install and the installed system; the lab's own subnet never goes through it */
  proxy?: ProxySettings;
  /** the lab's subnet (CIDR), added to no_proxy */
  cidr?: string;
}

function yamlValues(values: Record<string, string | string[] | null | object[]>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, JSON.stringify(v)]));
}

export function renderUserData(input: SeedInput): string {
  return renderTemplate(
    'hyperv/autoinstall/user-data',
    yamlValues({
      lab: input.lab,
      hostname: input.machine.name,
      confirmScript: readFileSync(templatePath('hyperv/autoinstall/confirm-autoinstall.py'), 'utf8'),
      mac: macColons(input.mac),
      address: `${input.machine.ip}/${input.prefix}`,
      gateway: input.gateway,
      dns: input.dns,
      user: input.user,
      authorizedKey: input.authorizedKey.trim(),
      hostKeyPrivate: input.hostKey.privateKey.trimEnd() + '\n',
      hostKeyPublic: input.hostKey.publicKey.trim(),
      proxy: input.proxy?.http ?? null,
      environmentFiles: input.proxy ? [{ path: '/etc/environment', append: true, content: proxyEnvironment(input.proxy, input.cidr) }] : [],
    }),
    oneLine,
  );
}

/** /etc/environment lines for a proxy: upper and lower case, as tools read either. */
function proxyEnvironment(p: ProxySettings, cidr: string | undefined): string {
  const noProxy = [...(p.noProxy ?? '').split(','), 'localhost', '127.0.0.1', ...(cidr ? [cidr] : [])].map((x) => x.trim()).filter(Boolean);
  const lines: string[] = [];
  for (const [name, value] of [['http_proxy', p.http], ['https_proxy', p.https], ['no_proxy', [...new Set(noProxy)].join(',')]] as const) {
    if (!value) continue;
    lines.push(`${name}=${value}`, `${name.toUpperCase()}=${value}`);
  }
  return lines.join('\n') + '\n';
}

export function renderMetaData(input: Pick<SeedInput, 'lab' | 'machine'>): string {
  return renderTemplate(
    'hyperv/autoinstall/meta-data',
    yamlValues({ instanceId: `labctl-${input.lab}-${input.machine.name}`, hostname: input.machine.name }),
    oneLine,
  );
}

export function buildSeedIso(input: SeedInput, date?: Date): Buffer {
  return buildIso(
    [
      { name: 'user-data', data: Buffer.from(renderUserData(input), 'utf8') },
      { name: 'meta-data', data: Buffer.from(renderMetaData(input), 'utf8') },
    ],
    { volumeId: 'CIDATA', date },
  );
}

/**
 * The NoCloud seed of an Ubuntu VM booted from the golden disk: cloud-config user-data,
 * network-config and meta-data with an instance-id of its own (cloud-init runs its
 * per-instance modules when the instance-id is new), on a disc labelled CIDATA.
 */
export function buildBootSeedIso(input: SeedInput, instanceId: string, date?: Date): Buffer {
  const values = yamlValues({
    hostname: input.machine.name,
    user: input.user,
    authorizedKey: input.authorizedKey.trim(),
    hostKeyPrivate: input.hostKey.privateKey.trimEnd() + '\n',
    hostKeyPublic: input.hostKey.publicKey.trim(),
    environmentFiles: input.proxy ? [{ path: '/etc/environment', append: true, content: proxyEnvironment(input.proxy, input.cidr) }] : [],
  });
  const network = yamlValues({ mac: macColons(input.mac), address: `${input.machine.ip}/${input.prefix}`, gateway: input.gateway, dns: input.dns });
  const meta = renderTemplate('hyperv/autoinstall/meta-data', yamlValues({ instanceId, hostname: input.machine.name }), oneLine);
  return buildIso(
    [
      { name: 'user-data', data: Buffer.from(renderTemplate('hyperv/nocloud/user-data', values, oneLine), 'utf8') },
      { name: 'network-config', data: Buffer.from(renderTemplate('hyperv/nocloud/network-config', network, oneLine), 'utf8') },
      { name: 'meta-data', data: Buffer.from(meta, 'utf8') },
    ],
    { volumeId: 'CIDATA', date },
  );
}
