import { parseIPv4 } from '../../spec/ipv4.js';
import type { Problem } from '../../spec/semantics.js';
import type { LabSpec } from '../../spec/types.js';
import { macAddress } from './names.js';

const WINDOWS_ABSOLUTE = /^(?:[A-Za-z]:[\\/]|\\\\[^\\/]+[\\/][^\\/]+)/;
const GB = 2 ** 30;

/**
 * What the hyperv provider needs from a spec, checked on any OS and without looking at the
 * Windows host: whether the files exist is preflight's job.
 */
export function validateHyperv(spec: LabSpec): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });
  const h = spec.hyperv;
  const ubuntu = spec.machines.filter((m) => m.os === 'ubuntu');
  const windows = spec.machines.filter((m) => m.os === 'windows');

  if (!h) {
    add('hyperv', 'the hyperv provider needs a hyperv: block (ubuntuIso, and windowsImage or windowsIso); see docs/hyperv.md');
    return problems;
  }
  if (ubuntu.length > 0 && !h.ubuntuIso) {
    add('hyperv.ubuntuIso', `is required for ${ubuntu.map((m) => m.name).join(', ')}: the path of an Ubuntu live-server ISO (24.04 or later) on the Windows host`);
  }
  if (windows.length > 0 && !h.windowsImage && !h.windowsIso) {
    add(
      'hyperv.windowsImage',
      `${windows.map((m) => m.name).join(', ')} run Windows: give windowsImage (a generalized Windows Server VHDX) or windowsIso (a Windows Server ISO)`,
    );
  }
  if (h.windowsImage && h.windowsIso) add('hyperv.windowsIso', 'give windowsImage or windowsIso, not both');

  const paths: [string, string | undefined, RegExp | undefined, string][] = [
    ['hyperv.ubuntuIso', h.ubuntuIso, /\.iso$/i, 'an .iso file'],
    ['hyperv.windowsIso', h.windowsIso, /\.iso$/i, 'an .iso file'],
    ['hyperv.windowsImage', h.windowsImage, /\.vhdx$/i, 'a .vhdx file'],
    ['hyperv.vmPath', h.vmPath, undefined, 'a folder'],
    ['hyperv.imageCache', h.imageCache, undefined, 'a folder'],
  ];
  for (const [field, value, ext, what] of paths) {
    if (value === undefined) continue;
    if (!WINDOWS_ABSOLUTE.test(value)) add(field, `must be an absolute Windows path such as C:\\labctl\\... (got ${JSON.stringify(value)})`);
    else if (ext && !ext.test(value)) add(field, `must name ${what} (got ${JSON.stringify(value)})`);
    if (/[\r\n\0]/.test(value)) add(field, 'must not contain a line break or NUL');
  }

  if (h.switch && /^default switch$/i.test(h.switch.trim())) {
    add('hyperv.switch', 'labctl never uses the Default Switch (its subnet changes on reboot): leave switch unset for labctl-<lab>, or name a new one');
  }
  for (const [i, server] of (h.dns ?? []).entries()) {
    if (parseIPv4(server) === undefined) add(`hyperv.dns.${i}`, `"${server}" is not an IPv4 address`);
  }
  if (spec.network.nat === false) {
    add('network.nat', 'must not be false on hyperv: the Ubuntu installer and the roles download packages through the host');
  }

  const macs = new Map<string, string>();
  for (const m of spec.machines) {
    const at = `machines.${m.name}`;
    if (m.memoryBytes % (2 * 2 ** 20) !== 0) add(`${at}.memory`, 'must be a multiple of 2MB (Hyper-V allocates memory in 2 MB pages)');
    if (m.memoryBytes < 2 * GB) {
      add(`${at}.memory`, m.os === 'ubuntu' ? 'must be at least 2GB: the Ubuntu live installer runs from memory' : 'must be at least 2GB for Windows Server');
    }
    if (m.os === 'ubuntu' && m.diskBytes < 8 * GB) add(`${at}.disk`, 'must be at least 8GB for an Ubuntu server install');
    if (m.os === 'windows' && m.diskBytes < 32 * GB) add(`${at}.disk`, 'must be at least 32GB for Windows Server');
    const mac = macAddress(spec.name, m.name);
    if (macs.has(mac)) add(at, `its MAC address ${mac} equals ${macs.get(mac)}'s: rename one of them`);
    macs.set(mac, m.name);
  }
  return problems;
}
