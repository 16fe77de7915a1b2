import { escapeXml, renderTemplate } from '../../util/template.js';
import { macDashes } from './names.js';
import type { GuestNetwork } from './guest-network.js';

export interface UnattendInput extends GuestNetwork {
  /** a Windows time zone id, e.g. "UTC" or "W. Europe Standard Time" */
  timeZone: string;
  adminPassword: string;
}

/** The obfuscated form Windows accepts with <PlainText>false</PlainText>. */
export function encodeUnattendPassword(password: string, field = 'AdministratorPassword'): string {
  return Buffer.from(password + field, 'utf16le').toString('base64');
}

/**
 * unattend.xml for one web VM. Every value is XML-escaped here, before rendering; the DNS
 * list is a run of elements built from escaped values, which is why the render itself does
 * not escape again.
 */
export function renderUnattend(input: UnattendInput): string {
  const dnsServers = input.dns
    .map((ip, i) => `            <IpAddress wcm:action="add" wcm:keyValue="${i + 1}">${escapeXml(ip)}</IpAddress>`)
    .join('\n');
  const values: Record<string, string> = {
    lab: escapeXml(input.lab),
    computerName: escapeXml(input.machine.name.toUpperCase()),
    timeZone: escapeXml(input.timeZone),
    macDashes: escapeXml(macDashes(input.mac)),
    address: escapeXml(`${input.machine.ip}/${input.prefix}`),
    gateway: escapeXml(input.gateway),
    adminPasswordEncoded: escapeXml(encodeUnattendPassword(input.adminPassword)),
    dnsServers,
  };
  return renderTemplate('hyperv/unattend.xml', values, (v) => v);
}
