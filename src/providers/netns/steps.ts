import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Step } from '../../engine/step.js';
import type { MachineSpec } from '../../spec/types.js';
import { OperationError } from '../../util/errors.js';
import { runHost } from '../../util/exec.js';
import { renderTemplate } from '../../util/template.js';
import { sleep } from '../../util/time.js';
import { ensureLabClientKey, hostKeyFact, labClientKeyExists } from '../lab-keys.js';
import type { LabContext } from '../provider.js';
import { generateSshKeyPair } from '../../transports/ssh.js';
import { addressesOf, defaultGateway, isAlive, linkExists, linkState, namespaceExists, processInNamespace, readPid } from './host.js';
import { machineLayout } from './layout.js';
import { bridgeName, GUEST_IFACE, namespaceName, peerTempName, vethName } from './names.js';
import { SSHD } from './preflight.js';
import { natStep } from './nat.js';
import { connectNetns } from './connect.js';

export function netnsCreateSteps(lab: LabContext): Step[] {
  const { spec, store } = lab;
  const bridge = bridgeName(spec.name);
  const cidrSuffix = `/${spec.network.prefix}`;
  const steps: Step[] = [
    {
      id: 'lab:ssh-key',
      title: 'lab SSH key',
      check: async () => labClientKeyExists(store),
      apply: async () => {
        ensureLabClientKey(store);
      },
    },
    {
      id: 'net:bridge',
      title: `bridge ${bridge} with gateway ${spec.network.gateway}${cidrSuffix}`,
      // a create killed between the commands of apply leaves a bridge without its address or down
      check: async () =>
        (await bridgeAddresses(bridge)).includes(`${spec.network.gateway}${cidrSuffix}`) && Boolean((await linkState(bridge))?.up),
      apply: async (ctx) => {
        ctx.record({ kind: 'bridge', id: bridge });
        if (!(await linkExists(bridge))) await runHost('ip', ['link', 'add', bridge, 'type', 'bridge']);
        await runHost('ip', ['addr', 'replace', `${spec.network.gateway}${cidrSuffix}`, 'dev', bridge]);
        await runHost('ip', ['link', 'set', bridge, 'up']);
      },
    },
  ];
  if (spec.network.nat) steps.push(natStep(lab));
  for (const m of spec.machines) steps.push(...machineSteps(lab, m));
  return steps;
}

async function bridgeAddresses(bridge: string): Promise<string[]> {
  const r = await runHost('ip', ['-j', '-4', 'addr', 'show', 'dev', bridge], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return [];
  const data = JSON.parse(r.stdout) as { addr_info?: { local: string; prefixlen: number }[] }[];
  return (data[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

/** the folders of a machine's "disk" */
const MACHINE_DIRS = ['etc/ssh', 'run', 'var/log', 'tmp', 'root'];

function machineSteps(lab: LabContext, m: MachineSpec): Step[] {
  const { spec, store } = lab;
  const ns = namespaceName(spec.name, m.name);
  const veth = vethName(spec.name, m);
  const peer = peerTempName(spec.name, m);
  const address = `${m.ip}/${spec.network.prefix}`;
  const files = machineLayout(store, m.name);
  const id = (what: string) => `machine:${m.name}:${what}`;

  const steps: Step[] = [
    {
      id: id('netns'),
      title: `${m.name}: network namespace ${ns}`,
      machine: m.name,
      check: async () => namespaceExists(ns) && Boolean((await linkState('lo', ns))?.up),
      apply: async (ctx) => {
        ctx.record({ kind: 'netns', id: ns, machine: m.name });
        if (!namespaceExists(ns)) await runHost('ip', ['netns', 'add', ns]);
        await runHost('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      },
    },
    {
      id: id('link'),
      title: `${m.name}: ${GUEST_IFACE} ${address} on ${bridgeName(spec.name)}`,
      machine: m.name,
      deps: ['net:bridge', id('netns')],
      // every part of apply, so that a pair left half-made by an interrupted run is made again
      check: async () => {
        const [addresses, guest, host, gateway] = await Promise.all([
          addressesOf(ns, GUEST_IFACE),
          linkState(GUEST_IFACE, ns),
          linkState(veth),
          spec.network.nat ? defaultGateway(ns) : Promise.resolve(undefined),
        ]);
        return (
          addresses.includes(address) &&
          Boolean(guest?.up) &&
          Boolean(host?.up) &&
          host?.master === bridgeName(spec.name) &&
          (!spec.network.nat || gateway === spec.network.gateway)
        );
      },
      apply: async (ctx) => {
        ctx.record({ kind: 'veth', id: veth, machine: m.name });
        // a half-made pair from an interrupted run is replaced, not patched
        if (await linkExists(veth)) await runHost('ip', ['link', 'del', veth]);
        if (await linkExists(peer)) await runHost('ip', ['link', 'del', peer]);
        await runHost('ip', ['-n', ns, 'link', 'del', GUEST_IFACE], { allowFail: true });
        await runHost('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
        await runHost('ip', ['link', 'set', peer, 'netns', ns]);
        await runHost('ip', ['-n', ns, 'link', 'set', peer, 'name', GUEST_IFACE]);
        await runHost('ip', ['-n', ns, 'addr', 'add', address, 'dev', GUEST_IFACE]);
        await runHost('ip', ['-n', ns, 'link', 'set', GUEST_IFACE, 'up']);
        await runHost('ip', ['link', 'set', veth, 'master', bridgeName(spec.name), 'up']);
        if (spec.network.nat) await runHost('ip', ['-n', ns, 'route', 'replace', 'default', 'via', spec.network.gateway]);
        // a machine made again (after a half-done teardown, say) has a new MAC: the host's entry
        // for its address would send to the old one until it expires, some 30 s of SSH timeouts
        await runHost('ip', ['neigh', 'flush', 'to', m.ip, 'dev', bridgeName(spec.name)], { allowFail: true });
      },
    },
    {
      id: id('disk'),
      title: `${m.name}: machine folder`,
      machine: m.name,
      check: async () => MACHINE_DIRS.every((d) => existsSync(path.join(files.root, d))),
      apply: async (ctx) => {
        ctx.record({ kind: 'dir', id: files.root, machine: m.name });
        for (const d of MACHINE_DIRS) mkdirSync(path.join(files.root, d), { recursive: true, mode: 0o755 });
      },
    },
    {
      id: id('sshd'),
      title: `${m.name}: sshd`,
      machine: m.name,
      deps: ['lab:ssh-key', id('link'), id('disk')],
      check: async () => sshdRunning(files.sshdPid, ns),
      apply: async (ctx) => {
        mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege-separation folder
        if (!existsSync(files.hostKey) || !store.fact(hostKeyFact(m.name))) {
          const pair = generateSshKeyPair(`${m.name}.${spec.name}`);
          writeFileSync(files.hostKey, pair.privateKey, { mode: 0o600 });
          store.setFact(hostKeyFact(m.name), pair.publicKey.trim());
        }
        writeFileSync(files.authorizedKeys, ensureLabClientKey(store).publicKey.trim() + '\n', { mode: 0o600 });
        writeFileSync(
          files.sshdConfig,
          renderTemplate('netns/sshd_config', {
            address: m.ip,
            hostKey: files.hostKey,
            pidFile: files.sshdPid,
            authorizedKeys: files.authorizedKeys,
            home: path.join(files.root, 'root'),
          }),
          { mode: 0o644 },
        );
        await runHost('ip', ['netns', 'exec', ns, SSHD, '-f', files.sshdConfig, '-E', files.sshdLog]);
        const deadline = Date.now() + 5000;
        while (!sshdRunning(files.sshdPid, ns)) {
          if (Date.now() > deadline) {
            throw new OperationError(`sshd on ${m.name} did not start`, [`sshd log (${files.sshdLog}):`, ...tail(files.sshdLog, 10)]);
          }
          await sleep(10);
        }
        ctx.log(`sshd pid ${readPid(files.sshdPid)} in ${ns}`);
      },
    },
    {
      id: id('ready'),
      title: `${m.name}: SSH answers with the pinned host key`,
      machine: m.name,
      deps: [id('sshd')],
      check: async () => sshdRunning(files.sshdPid, ns) && (await sshAnswers(lab, m, 1000)),
      apply: async () => {
        const deadline = Date.now() + 10_000;
        let last: unknown;
        while (Date.now() < deadline) {
          try {
            const t = await connectNetns(lab, m, 3000);
            await t.run('true');
            await t.close();
            return;
          } catch (err) {
            last = err;
            await sleep(50);
          }
        }
        throw new OperationError(`${m.name} did not answer over SSH: ${(last as Error)?.message}`, [
          `sshd log (${files.sshdLog}):`,
          ...tail(files.sshdLog, 10),
        ]);
      },
    },
  ];
  return steps;
}

export function sshdRunning(pidFile: string, ns: string): boolean {
  const pid = readPid(pidFile);
  return pid !== undefined && isAlive(pid) && processInNamespace(pid, ns);
}

async function sshAnswers(lab: LabContext, m: MachineSpec, timeoutMs: number): Promise<boolean> {
  try {
    const t = await connectNetns(lab, m, timeoutMs);
    await t.run('true');
    await t.close();
    return true;
  } catch {
    return false;
  }
}

function tail(file: string, lines: number): string[] {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `  ${l}`);
  } catch {
    return ['  (no log)'];
  }
}
