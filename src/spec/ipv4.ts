/** IPv4 addresses as unsigned 32-bit numbers, enough for subnet arithmetic. */

export function parseIPv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    if (part.length > 1 && part.startsWith('0')) return undefined; // "010" is ambiguous (octal in some tools)
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

export function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}

export interface Subnet {
  network: number;
  prefix: number;
  /** first address after the network address; the lab's gateway (host side) */
  gateway: number;
  broadcast: number;
  cidr: string;
}

export function parseCidr(text: string): { subnet?: Subnet; error?: string } {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!m) return { error: `"${text}" is not in CIDR form, e.g. 10.123.0.0/24` };
  const address = parseIPv4(m[1]!);
  if (address === undefined) return { error: `"${m[1]}" is not an IPv4 address` };
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 29) return { error: `prefix /${prefix} is not supported: use /8 to /29` };
  const subnet = subnetOf(address, prefix);
  if (subnet.network !== address) {
    return { error: `${text} has host bits set: the network address is ${subnet.cidr}` };
  }
  return { subnet };
}

/** The subnet of `prefix` bits that holds `address` (no range checks: for routes seen on a host). */
export function subnetOf(address: number, prefix: number): Subnet {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (address & mask) >>> 0;
  const broadcast = (network | (~mask >>> 0)) >>> 0;
  return { network, prefix, gateway: network + 1, broadcast, cidr: `${formatIPv4(network)}/${prefix}` };
}

export function contains(subnet: Subnet, address: number): boolean {
  return address >= subnet.network && address <= subnet.broadcast;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return a.network <= b.broadcast && b.network <= a.broadcast;
}
