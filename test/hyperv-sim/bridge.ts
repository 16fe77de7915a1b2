/**
 * Where the simulated Hyper-V host meets real sockets. The simulator (PowerShell) keeps the
 * host's switches, addresses and VMs as state; this bridge watches that state and gives each
 * part a real counterpart on this Linux machine, so that what labctl does over the network
 * after the VMs boot is real:
 *
 * - the host's adapter on an Internal switch, once it has an address (New-NetIPAddress), is a
 *   Linux bridge holding that address, as the host's vEthernet adapter is on Windows;
 * - a VM that has booted with an address is a network namespace on that bridge, with the
 *   VM's MAC and the address its own configuration gives it (netplan in the seed's
 *   user-data, the TCPIP section of unattend.xml — read here from the guest's own files, so a
 *   wrong address or MAC in what labctl wrote means no network, as on Hyper-V);
 * - an Ubuntu VM runs sshd there with the host key and user from the seed's user-data (the
 *   account exists only in that namespace: `ip netns exec` binds /etc/netns/<ns>/passwd);
 * - a Windows VM runs the published chat app when its IIS site is started (see the guest
 *   behaviours): node runs server.cjs from the site's folder with web.config's appSettings, and
 *   again when those files change (iisnode's watchedFiles="web.config;*.cjs" recycles node);
 * - a Windows VM whose Web Management Service runs, with TCP 8172 open in its firewall, answers
 *   HTTPS on 8172 with a self-signed certificate: 401 without credentials (wmsvc-stub.mjs).
 *
 * What is not real: the guest OS itself. sshd and node are this machine's; the Ubuntu VM has
 * no systemd, apt or ufw, so the Redis role cannot run on it (the tests say where that ends).
 * Its root is a user namespace over the VM's own disk folders (guestTools: sudo, a cloud-init
 * clean and a systemctl for haproxy), enough for the golden disk's generalization and the lb role.
 * The poll loop is bounded by stop(), and stop() removes every object it made.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { runHost } from '../../src/util/exec.js';
import { isAlive, killAll, namespacePids } from '../../src/providers/netns/host.js';
import type { SimHost, SimState } from './host.js';

const SSHD = '/usr/sbin/sshd';
const HERE = path.dirname(fileURLToPath(import.meta.url));

interface GuestNet {
  ip: string;
  prefix: number;
  gateway?: string;
  mac: string;
}

interface Made {
  bridges: Map<string, { ifIndex: number; addrs: string[] }>;
  guests: Map<string, { ns: string; veth: string; bridge: string; net: GuestNet; procs: ChildProcess[]; app?: string; wmsvc?: string }>;
}

/** Linux names are at most 15 characters: a short hash of the sim folder and the object. */
function shortName(prefix: string, ...parts: string[]): string {
  return prefix + createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 15 - prefix.length);
}

function macColons(mac: string): string {
  const hex = mac.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
  return hex.match(/../g)!.join(':');
}

/**
 * What every bridge made, by name, with the pid of the test process that made it: a run that
 * was killed (no after() hook) leaves its links and namespaces behind, and a leftover bridge
 * with the lab's gateway address takes the route to the next run's guests (EHOSTUNREACH).
 * The next bridge to start removes what dead processes made. /run is emptied at boot.
 */
const REGISTRY = '/run/labctl-sim-bridge';

function claim(kind: 'link' | 'netns', name: string): void {
  mkdirSync(REGISTRY, { recursive: true });
  writeFileSync(path.join(REGISTRY, name), `${process.pid} ${kind}\n`);
}

function unclaim(name: string): void {
  rmSync(path.join(REGISTRY, name), { force: true });
}

async function sweepStale(): Promise<string[]> {
  if (!existsSync(REGISTRY)) return [];
  const swept: string[] = [];
  for (const name of readdirSync(REGISTRY)) {
    const [pid, kind] = readFileSync(path.join(REGISTRY, name), 'utf8').trim().split(' ');
    if (isAlive(Number(pid))) continue;
    if (kind === 'netns') {
      await killAll(await namespacePids(name));
      await runHost('ip', ['netns', 'del', name], { allowFail: true });
      rmSync(`/etc/netns/${name}`, { recursive: true, force: true });
    } else {
      await runHost('ip', ['link', 'del', name], { allowFail: true });
    }
    unclaim(name);
    swept.push(`${kind} ${name}`);
  }
  return swept;
}

export class SimNetworkBridge {
  private readonly made: Made = { bridges: new Map(), guests: new Map() };
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private stopped = false;
  /** what went wrong while reconciling (tests print it when something does not come up) */
  readonly problems: string[] = [];
  readonly dir: string;

  constructor(
    private readonly host: SimHost,
    private readonly opts: { intervalMs?: number } = {},
  ) {
    this.dir = path.join(host.dir, 'bridge');
  }

  start(): void {
    mkdirSync(this.dir, { recursive: true });
    let first = true;
    const tick = () => {
      if (this.stopped) return;
      const sweep = first ? sweepStale().then(() => {}) : Promise.resolve();
      first = false;
      this.busy = sweep
        .then(() => this.reconcile())
        .catch((err) => {
          this.problems.push(String(err));
        })
        .finally(() => {
          this.busy = undefined;
          if (!this.stopped) this.timer = setTimeout(tick, this.opts.intervalMs ?? 150);
        });
    };
    tick();
  }

  /** Waits for the reconcile under way, so a test sees the state the bridge has caught up with. */
  async settle(): Promise<void> {
    await this.busy;
    await this.reconcile();
  }

  /** Namespace of a simulated VM by name, once it has booted with an address. */
  namespaceOf(vmName: string): string | undefined {
    const state = this.host.read();
    const vm = (state.vms ?? []).find((v: any) => v.name === vmName);
    return vm ? this.made.guests.get(vm.id)?.ns : undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.busy;
    for (const id of [...this.made.guests.keys()]) await this.removeGuest(id);
    for (const name of [...this.made.bridges.keys()]) await this.removeBridge(name);
  }

  /** Everything of this bridge still on the machine (for the leftovers check). */
  async leftovers(): Promise<string[]> {
    const left: string[] = [];
    const links = await runHost('ip', ['-j', 'link', 'show'], { allowFail: true });
    const prefix = shortName('lsb', this.host.dir).slice(0, 3);
    for (const l of JSON.parse(links.stdout || '[]') as { ifname: string }[]) {
      if ([...this.made.bridges.keys()].includes(l.ifname) || [...this.made.guests.values()].some((g) => g.veth === l.ifname)) left.push(`link ${l.ifname}`);
    }
    void prefix;
    for (const g of this.made.guests.values()) if (existsSync(`/run/netns/${g.ns}`)) left.push(`netns ${g.ns}`);
    return left;
  }

  private async reconcile(): Promise<void> {
    let state: SimState;
    try {
      state = this.host.read();
    } catch {
      return; // mid-write by a test: next tick
    }
    await this.reconcileBridges(state);
    await this.reconcileGuests(state);
  }

  /** The host's vEthernet adapters with addresses: one Linux bridge each. */
  private async reconcileBridges(state: SimState): Promise<void> {
    const want = new Map<string, { ifIndex: number; addrs: string[] }>();
    for (const a of state.host?.adapters ?? []) {
      if (a.kind !== 'vnic' || !a.switchName) continue;
      const addrs = (a.ips ?? []).map((x: { ip: string; prefix: number }) => `${x.ip}/${x.prefix}`);
      if (addrs.length === 0) continue;
      want.set(shortName('lsb', this.host.dir, a.switchName), { ifIndex: a.ifIndex, addrs });
    }
    for (const name of [...this.made.bridges.keys()]) if (!want.has(name)) await this.removeBridge(name);
    for (const [name, w] of want) {
      const had = this.made.bridges.get(name);
      if (had && had.addrs.join() === w.addrs.join()) continue;
      await this.refuseTakenAddresses(name, w.addrs);
      claim('link', name);
      await runHost('ip', ['link', 'add', name, 'type', 'bridge'], { allowFail: true });
      await runHost('ip', ['addr', 'flush', 'dev', name], { allowFail: true });
      for (const addr of w.addrs) await runHost('ip', ['addr', 'add', addr, 'dev', name]);
      await runHost('ip', ['link', 'set', name, 'up']);
      this.made.bridges.set(name, w);
    }
  }

  private async removeBridge(name: string): Promise<void> {
    await runHost('ip', ['link', 'del', name], { allowFail: true });
    unclaim(name);
    this.made.bridges.delete(name);
  }

  /** Another link with the address the host's vNIC gets would take the route to the guests. */
  private async refuseTakenAddresses(bridge: string, addrs: string[]): Promise<void> {
    const shown = await runHost('ip', ['-j', 'addr', 'show'], { allowFail: true });
    const links = JSON.parse(shown.stdout || '[]') as { ifname: string; addr_info?: { local: string; prefixlen: number }[] }[];
    for (const l of links) {
      if (l.ifname === bridge) continue;
      for (const a of l.addr_info ?? []) {
        if (addrs.includes(`${a.local}/${a.prefixlen}`)) {
          throw new Error(`${a.local}/${a.prefixlen} is already on ${l.ifname} (left by another run?): remove it with ip link del ${l.ifname}`);
        }
      }
    }
  }

  private async reconcileGuests(state: SimState): Promise<void> {
    const running = new Map<string, any>();
    for (const vm of state.vms ?? []) {
      if (vm.state === 'Running' && vm.guest && ['ready'].includes(vm.guest.phase)) running.set(vm.id, vm);
    }
    for (const id of [...this.made.guests.keys()]) if (!running.has(id)) await this.removeGuest(id);
    for (const [id, vm] of running) {
      const have = this.made.guests.get(id);
      if (!have) {
        try {
          await this.addGuest(state, vm);
        } catch (err) {
          this.problems.push(`${vm.name}: ${String(err)}`);
          await this.removeGuest(id);
        }
        continue;
      }
      if (vm.guest.os === 'windows') {
        await this.reconcileApp(vm, have);
        await this.reconcileWmsvc(vm, have);
      }
    }
  }

  /** The guest's own network configuration, as it would apply it at boot. */
  private guestNetwork(vm: any): GuestNet | undefined {
    const adapter = (vm.adapters ?? [])[0];
    if (!adapter) return undefined;
    const mac = String(adapter.mac).replace(/[^0-9a-fA-F]/g, '').toUpperCase();
    if (vm.guest.os === 'ubuntu') {
      // the netplan cloud-init wrote on the guest's disk (from the NoCloud network-config or
      // the installer's), else the autoinstall's network section
      const applied = vm.guest.networkConfig ? YAML.parse(String(vm.guest.networkConfig)) ?? {} : undefined;
      const doc = YAML.parse(String(vm.guest.userData ?? '')) ?? {};
      const eths = (applied ? (applied.network ?? applied).ethernets ?? applied.autoinstall?.network?.ethernets : undefined) ?? doc.autoinstall?.network?.ethernets ?? {};
      for (const e of Object.values<any>(eths)) {
        const want = String(e?.match?.macaddress ?? '').replace(/[^0-9a-fA-F]/g, '').toUpperCase();
        if (want !== mac) continue; // netplan matches the adapter by MAC: another MAC, no address
        const [ip, prefix] = String((e.addresses ?? [])[0] ?? '').split('/');
        const gw = (e.routes ?? []).find((r: any) => r?.to === 'default')?.via;
        if (ip && prefix) return { ip, prefix: Number(prefix), gateway: gw, mac };
      }
      return undefined;
    }
    // Windows: Microsoft-Windows-TCPIP's Interface whose Identifier is the adapter's MAC
    const unattend = this.windowsFile(vm, 'Windows/Panther/unattend.xml');
    if (!unattend) return undefined;
    for (const m of unattend.matchAll(/<Interface\b[\s\S]*?<\/Interface>/g)) {
      const block = m[0];
      const ident = /<Identifier>([^<]*)<\/Identifier>/.exec(block)?.[1]?.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
      const addr = /<IpAddress[^>]*>([^<]*)<\/IpAddress>/.exec(block)?.[1];
      if (ident !== mac || !addr || !/UnicastIpAddresses/.test(block)) continue;
      const [ip, prefix] = addr.split('/');
      const gw = /<NextHopAddress>([^<]*)<\/NextHopAddress>/.exec(block)?.[1];
      if (ip && prefix) return { ip, prefix: Number(prefix), gateway: gw, mac };
    }
    return undefined;
  }

  private windowsFile(vm: any, rel: string): string | undefined {
    const root = vm.guest?.drives?.C;
    if (!root) return undefined;
    const file = path.join(root, ...rel.split('/'));
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }

  private bridgeFor(state: SimState, vm: any): string | undefined {
    const switchName = (vm.adapters ?? [])[0]?.switchName;
    if (!switchName) return undefined;
    const name = shortName('lsb', this.host.dir, switchName);
    return this.made.bridges.has(name) ? name : undefined;
  }

  private async addGuest(state: SimState, vm: any): Promise<void> {
    const net = this.guestNetwork(vm);
    const bridge = this.bridgeFor(state, vm);
    if (!net || !bridge) return; // no address of its own, or no switch with a host side yet: nothing to reach
    const ns = shortName('lsg-', this.host.dir, vm.id);
    const veth = shortName('lsv', this.host.dir, vm.id);
    const peer = shortName('lsp', this.host.dir, vm.id);
    const g = { ns, veth, bridge, net, procs: [] as ChildProcess[] };
    this.made.guests.set(vm.id, g);
    claim('netns', ns);
    claim('link', veth);
    await runHost('ip', ['netns', 'add', ns]);
    await runHost('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
    await runHost('ip', ['link', 'set', peer, 'netns', ns]);
    await runHost('ip', ['-n', ns, 'link', 'set', peer, 'name', 'eth0']);
    await runHost('ip', ['-n', ns, 'link', 'set', 'eth0', 'address', macColons(net.mac)]);
    await runHost('ip', ['-n', ns, 'addr', 'add', `${net.ip}/${net.prefix}`, 'dev', 'eth0']);
    await runHost('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await runHost('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await runHost('ip', ['link', 'set', veth, 'master', bridge]);
    await runHost('ip', ['link', 'set', veth, 'up']);
    if (net.gateway) await runHost('ip', ['-n', ns, 'route', 'add', 'default', 'via', net.gateway], { allowFail: true });
    if (vm.guest.os === 'ubuntu') {
      // the guest's root (a user namespace's, see guestTools) binds its services to port 80
      await runHost('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_unprivileged_port_start=0']);
      await this.startSshd(vm, g);
    }
    if (vm.guest.os === 'windows') {
      await this.reconcileApp(vm, g);
      await this.reconcileWmsvc(vm, g);
    }
  }

  private async removeGuest(id: string): Promise<void> {
    const g = this.made.guests.get(id);
    if (!g) return;
    await killAll([...g.procs.map((p) => p.pid!).filter(Boolean), ...(await namespacePids(g.ns))]);
    await runHost('ip', ['link', 'del', g.veth], { allowFail: true });
    await runHost('ip', ['netns', 'del', g.ns], { allowFail: true });
    rmSync(`/etc/netns/${g.ns}`, { recursive: true, force: true });
    rmSync(path.join(this.dir, g.ns), { recursive: true, force: true });
    unclaim(g.veth);
    unclaim(g.ns);
    this.made.guests.delete(id);
  }

  /** sshd as the installed Ubuntu would run it: the seed's host key, the seed's user and key. */
  private async startSshd(vm: any, g: { ns: string; net: GuestNet; procs: ChildProcess[] }): Promise<void> {
    const doc = YAML.parse(String(vm.guest.userData ?? '')) ?? {};
    // an autoinstall's user-data section, or a NoCloud seed's cloud-config
    const ud = doc.autoinstall?.['user-data'] ?? doc;
    const user = ud.users?.[0];
    // the host key the guest's cloud-init wrote on its disk (none on a generalized disk booted without a seed)
    const root: string | undefined = vm.guest.rootDir;
    const keyFile = root ? path.join(root, 'etc', 'ssh', 'ssh_host_ed25519_key') : undefined;
    const hostKey = keyFile ? (existsSync(keyFile) ? readFileSync(keyFile, 'utf8') : undefined) : ud.ssh_keys?.ed25519_private;
    if (!user?.name || !hostKey) throw new Error(`the guest has no user or no SSH host key${root ? ` on its disk (${root})` : ''}`);
    const uid = 61000;
    const dir = path.join(this.dir, g.ns);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(dir, 'host_ed25519'), String(hostKey), { mode: 0o600 });
    // sshd reads the user's keys as the user: the folders on the way may be passed through
    // (0711: names of entries stay hidden), the home and its keys belong to the user
    for (const d of [this.host.dir, this.dir, dir]) chmodSync(d, 0o711);
    const home = path.join(dir, 'home');
    mkdirSync(home, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(home, 'authorized_keys'), (user.ssh_authorized_keys ?? []).join('\n') + '\n', { mode: 0o600 });
    chownSync(home, uid, uid);
    chownSync(path.join(home, 'authorized_keys'), uid, uid);
    // the account exists in this namespace only: ip netns exec bind-mounts these over /etc
    const etc = `/etc/netns/${g.ns}`;
    mkdirSync(etc, { recursive: true });
    writeFileSync(path.join(etc, 'passwd'), `${readFileSync('/etc/passwd', 'utf8').trimEnd()}\n${user.name}:x:${uid}:${uid}:${user.gecos ?? ''}:${home}:/bin/sh\n`);
    writeFileSync(path.join(etc, 'group'), `${readFileSync('/etc/group', 'utf8').trimEnd()}\n${user.name}:x:${uid}:\n`);
    writeFileSync(path.join(etc, 'shadow'), `${readFileSync('/etc/shadow', 'utf8').trimEnd()}\n${user.name}:*:19000:0:99999:7:::\n`, { mode: 0o640 });
    writeFileSync(
      path.join(dir, 'sshd_config'),
      [
        `ListenAddress ${g.net.ip}`,
        'Port 22',
        `HostKey ${path.join(dir, 'host_ed25519')}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${path.join(home, 'authorized_keys')}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'PrintMotd no',
        'Subsystem sftp internal-sftp',
        // the guest's root: stand-ins for sudo and cloud-init that act on the guest's disk (see guestTools)
        ...(root ? [`SetEnv PATH=${this.guestTools(g.ns, root, uid)}:/usr/local/bin:/usr/bin:/bin`] : []),
      ].join('\n') + '\n',
    );
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const p = spawn('ip', ['netns', 'exec', g.ns, SSHD, '-D', '-f', path.join(dir, 'sshd_config'), '-E', path.join(dir, 'sshd.log')], { stdio: 'ignore' });
    g.procs.push(p);
  }

  /**
   * What root does in the Ubuntu guest, on the guest's own files: its disk's root partition
   * (the simulator's folder, handed to the guest's user) is /etc and /var for `sudo`, which runs
   * the command as root of a user namespace with those folders bound over /etc and /var — so
   * ubuntu-generalize.sh really removes the host keys, empties machine-id and cloud-init's state
   * of the simulated disk, and nothing of this machine. `cloud-init` stands in for cloud-init's
   * clean (the only subcommand labctl runs). Returns the folder to put first on PATH.
   */
  private guestTools(ns: string, root: string, uid: number): string {
    const bin = path.join(this.dir, ns, 'bin');
    mkdirSync(bin, { recursive: true, mode: 0o755 });
    for (const d of ['etc', 'var', 'run']) mkdirSync(path.join(root, d), { recursive: true });
    chownTree(root, uid);
    writeFileSync(
      path.join(bin, 'sudo'),
      `#!/bin/sh
# the simulated Ubuntu guest's sudo: root of a user namespace over the guest's own /etc and /var
[ "\${1-}" = "-n" ] && shift
exec unshare -rm sh -c 'mount --bind "$0/etc" /etc && mount --bind "$0/var" /var && mount --bind "$0/run" /run && exec "$@"' ${JSON.stringify(root)} "$@"
`,
      { mode: 0o755 },
    );
    writeFileSync(
      path.join(bin, 'cloud-init'),
      [
        '#!/bin/sh',
        "# stand-in for cloud-init in the simulated guest: 'clean' and what its flags remove",
        '[ "${1-}" = clean ] || { echo "cloud-init (simulated): only clean is simulated" >&2; exit 2; }',
        'shift',
        'rm -rf /var/lib/cloud/instance /var/lib/cloud/instances /var/lib/cloud/data /var/lib/cloud/sem',
        'for a in "$@"; do case "$a" in',
        '  --logs) rm -f /var/log/cloud-init.log /var/log/cloud-init-output.log ;;',
        "  --machine-id) printf 'uninitialized\\n' > /etc/machine-id ;;",
        '  --seed) rm -rf /var/lib/cloud/seed ;;',
        'esac; done',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    // systemd's place for the lb role: HAProxy from this machine's package (the guest's /usr is
    // this machine's), run as the guest's root with the guest's /etc and /run
    writeFileSync(
      path.join(bin, 'systemctl'),
      [
        '#!/bin/sh',
        '# stand-in for systemctl in the simulated guest: the haproxy unit only',
        'cmd=$1; shift',
        'unit=; for a; do case "$a" in -*) ;; *) unit=$a ;; esac; done',
        '[ "$unit" = haproxy ] || [ "$unit" = haproxy.service ] || { echo "systemctl (simulated): only haproxy is simulated" >&2; exit 2; }',
        'pid=$(cat /run/haproxy/haproxy.pid 2>/dev/null)',
        'alive() { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }',
        'case "$cmd" in',
        '  enable) exit 0 ;;',
        '  is-active) alive ;;',
        '  reload-or-restart|restart|start|reload)',
        '    mkdir -p /run/haproxy',
        '    if alive; then exec /usr/sbin/haproxy -D -f /etc/haproxy/haproxy.cfg -p /run/haproxy/haproxy.pid -sf "$pid"; fi',
        '    exec /usr/sbin/haproxy -D -f /etc/haproxy/haproxy.cfg -p /run/haproxy/haproxy.pid ;;',
        '  *) echo "systemctl (simulated): $cmd is not simulated" >&2; exit 2 ;;',
        'esac',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    return bin;
  }

  /**
   * The Windows guest's chat app, as iisnode would run it: when the guest's IIS has a started
   * site bound to a port whose folder holds server.cjs and web.config, node runs it with the
   * appSettings as environment (paths on the guest's C: mapped to its folder here).
   */
  private async reconcileApp(vm: any, g: { ns: string; procs: ChildProcess[]; app?: string }): Promise<void> {
    const sites: any[] = vm.guest?.iis?.sites ?? [];
    const site = sites.find((s) => s.state === 'Started' && fileIn(vm, s.physicalPath, 'server.cjs'));
    // iisnode restarts node when a watched file changes (web.config's watchedFiles="web.config;*.cjs"):
    // a publish into the same folder is a new key
    // and a recycle of its pool (Restart-WebAppPool) starts a new node too
    const pool = (vm.guest?.iis?.appPools ?? []).find((p: any) => p.name === site?.appPool);
    const key = site ? `${site.physicalPath}|${JSON.stringify(site.bindings)}|${watchedStamp(guestPath(vm, site.physicalPath)!)}|${pool?.recycled ?? 0}` : undefined;
    if (g.app === key) return;
    const old = g.procs.filter((p) => (p as any).labctlApp);
    if (old.length) await killAll(old.map((p) => p.pid!).filter(Boolean));
    g.procs = g.procs.filter((p) => !(p as any).labctlApp);
    g.app = key;
    if (!site) return;
    const folder = guestPath(vm, site.physicalPath)!;
    const config = readFileSync(path.join(folder, 'web.config'), 'utf8');
    const env: Record<string, string> = {};
    for (const m of config.matchAll(/<add key="([^"]+)" value="([^"]*)"\s*\/>/g)) env[m[1]!] = unescapeXml(m[2]!);
    if (env.REDIS_PASSWORD_FILE) env.REDIS_PASSWORD_FILE = guestPath(vm, env.REDIS_PASSWORD_FILE) ?? env.REDIS_PASSWORD_FILE;
    const port = Number(String((site.bindings ?? [])[0]?.port ?? (site.bindings ?? [])[0]?.bindingInformation?.split(':')[1] ?? 80));
    const log = openSync(path.join(this.dir, `${g.ns}-app.log`), 'a');
    const p = spawn('ip', ['netns', 'exec', g.ns, process.execPath, path.join(folder, 'server.cjs')], {
      stdio: ['ignore', log, log],
      env: { ...process.env, ...env, PORT: String(port), HOST: '0.0.0.0' },
    });
    closeSync(log);
    (p as any).labctlApp = true;
    g.procs.push(p);
  }

  /**
   * WMSvc's endpoint: while the guest's WMSVC runs and its firewall lets TCP 8172 in, an HTTPS
   * listener on the VM's address (wmsvc-stub.mjs) with a self-signed certificate named as
   * WMSvc names its own (WMSvc-SHA2-<computer name>), answering 401 without credentials (403
   * when remote connections were off when WMSvc started).
   */
  private async reconcileWmsvc(vm: any, g: { ns: string; net: GuestNet; procs: ChildProcess[]; wmsvc?: string }): Promise<void> {
    const svc = vm.guest?.services?.wmsvc;
    const open = (vm.guest?.firewall ?? []).some(
      (r: any) => String(r.enabled) === 'True' && r.direction === 'Inbound' && r.action === 'Allow' && ['TCP', 'Any'].includes(r.protocol) && [r.localPort].flat().some((p: string) => p === '8172' || p === 'Any'),
    );
    const key = svc?.status === 'Running' && open ? (svc.running?.remoteManagement ? 'remote' : 'local') : undefined;
    if (g.wmsvc === key) return;
    const old = g.procs.filter((p) => (p as any).labctlWmsvc);
    if (old.length) await killAll(old.map((p) => p.pid!).filter(Boolean));
    g.procs = g.procs.filter((p) => !(p as any).labctlWmsvc);
    g.wmsvc = key;
    if (!key) return;
    const dir = path.join(this.dir, g.ns);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const cert = path.join(dir, 'wmsvc-cert.pem');
    const certKey = path.join(dir, 'wmsvc-key.pem');
    if (!existsSync(cert)) {
      const cn = `WMSvc-SHA2-${String(vm.guest.computerName ?? vm.name).toUpperCase()}`;
      await runHost('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', certKey, '-out', cert, '-days', '30', '-subj', `/CN=${cn}`]);
    }
    const log = openSync(path.join(this.dir, `${g.ns}-wmsvc.log`), 'a');
    const p = spawn('ip', ['netns', 'exec', g.ns, process.execPath, path.join(HERE, 'wmsvc-stub.mjs'), g.net.ip, '8172', cert, certKey, key], { stdio: ['ignore', log, log] });
    closeSync(log);
    (p as any).labctlWmsvc = true;
    g.procs.push(p);
  }

  /** Runs a program inside a simulated VM's namespace (tests start a Redis there, for example). */
  spawnIn(vmName: string, argv: string[], options: { env?: Record<string, string> } = {}): ChildProcess {
    const ns = this.namespaceOf(vmName);
    if (!ns) throw new Error(`${vmName} has not booted into a namespace yet`);
    const p = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: 'ignore', env: { ...process.env, ...options.env } });
    const state = this.host.read();
    const vm = state.vms.find((v: any) => v.name === vmName);
    this.made.guests.get(vm.id)?.procs.push(p);
    return p;
  }

  alive(p: ChildProcess): boolean {
    return p.pid !== undefined && isAlive(p.pid);
  }
}

function chownTree(dir: string, uid: number): void {
  chownSync(dir, uid, uid);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, uid);
    else if (e.isFile()) chownSync(p, uid, uid);
  }
}

function guestPath(vm: any, windowsPath: string | undefined): string | undefined {
  const m = /^[Cc]:[\\/]?(.*)$/.exec(windowsPath ?? '');
  const root = vm.guest?.drives?.C;
  if (!m || !root) return undefined;
  return path.join(root, ...m[1]!.split(/[\\/]+/).filter(Boolean));
}

/** What iisnode watches in the app folder (watchedFiles="web.config;*.cjs"): their sizes and times. */
function watchedStamp(folder: string): string {
  try {
    return readdirSync(folder)
      .filter((f) => f === 'web.config' || f.endsWith('.cjs'))
      .sort()
      .map((f) => {
        const st = statSync(path.join(folder, f));
        return `${f}:${st.size}:${st.mtimeMs}`;
      })
      .join(',');
  } catch {
    return '';
  }
}

function fileIn(vm: any, windowsFolder: string | undefined, name: string): boolean {
  const folder = guestPath(vm, windowsFolder);
  return Boolean(folder && existsSync(path.join(folder, name)));
}

function unescapeXml(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
