import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Step, StepAction } from '../../engine/step.js';
import type { LabContext } from '../../providers/provider.js';
import { redisMachine, type MachineSpec } from '../../spec/types.js';
import { OperationError, errorMessage } from '../../util/errors.js';
import { sha256 } from '../../util/hash.js';
import { escapeXml, renderTemplate } from '../../util/template.js';
import { getHealth } from '../../verify/http.js';
import { redisPassword } from '../redis/index.js';
import { loadBundle, type AppBundle } from '../web-linux/bundle.js';
import { ensurePackage, packageCacheDir, WEB_PACKAGES, type WebPackage } from './packages.js';

/**
 * How the role reaches a Windows guest: run one of its guest scripts
 * (templates/hyperv/web/*.ps1) with named parameters, optionally copying a host file or
 * folder in first. The Hyper-V provider implements it with PowerShell Direct.
 */
export interface GuestChannel {
  run<T>(guestScript: string, params: Record<string, unknown>, opts?: GuestCallOptions): Promise<T>;
  describe(guestScript: string, params: Record<string, unknown>, opts?: GuestCallOptions): StepAction;
}

export interface GuestCallOptions {
  copy?: { from: string; to: string };
  /** parameter names whose values plan must not show */
  secrets?: string[];
}

export interface WebWindowsContext {
  lab: LabContext;
  machine: MachineSpec;
  guest: GuestChannel;
  redisServiceStep: string;
  packages?: WebPackage[];
  bundle?: () => Promise<AppBundle>;
  /** undefined when healthy, else what is wrong; default: GET /healthz from the host */
  health?: () => Promise<string | undefined>;
  /** throws unless the host reaches the machine through the lab's own switch */
  guardRoute?: () => Promise<void>;
  /** waits between health checks */
  sleep?: (ms: number) => Promise<void>;
}

export const FEATURES = ['Web-Server', 'Web-App-Dev', 'Web-WebSockets', 'Web-Mgmt-Service', 'Web-Mgmt-Console', 'Web-Scripting-Tools'];
export const SITE = 'labctl-chat';
const GUEST_ROOT = 'C:\\labctl';
const PASSWORD_FILE = `${GUEST_ROOT}\\secrets\\redis.password`;
const NODE_EXE = 'C:\\Program Files\\nodejs\\node.exe';

interface WebState {
  features: Record<string, boolean>;
  files: Record<string, boolean>;
  wmsvc: { status: string; startType: string } | null;
  remoteManagement: boolean;
  firewall: boolean;
  site: { state: string; physicalPath: string; bindings: string } | null;
}

/** web.config for iisnode, every value XML-escaped. */
export function renderWebConfig(lab: LabContext, m: MachineSpec): string {
  const spec = lab.spec;
  const v = {
    lab: spec.name,
    node: m.name,
    redisHost: redisMachine(spec).ip,
    redisPort: String(spec.redis.port),
    passwordFile: PASSWORD_FILE,
    channel: spec.redis.channel,
    ratePerSec: String(spec.app.rateLimit.perSecond),
    rateBurst: String(spec.app.rateLimit.burst),
    nodeExe: NODE_EXE,
  };
  return renderTemplate('iis/web.config', v, escapeXml);
}

/**
 * The seed's Windows web server, over PowerShell Direct: IIS with the WebSocket Protocol
 * and the Management Service, WMSvc open for remote management on 8172, Web Deploy, URL
 * Rewrite, Node.js and iisnode from checked installers, then the chat app as an IIS site.
 * The app is copied in over PowerShell Direct (labctl does not drive msdeploy.exe).
 */
export function webWindowsSteps(c: WebWindowsContext): Step[] {
  const { lab, machine: m, guest } = c;
  const spec = lab.spec;
  const id = (what: string) => `web:${m.name}:${what}`;
  const packages = c.packages ?? WEB_PACKAGES;
  const bundle = c.bundle ?? (() => loadBundle());
  const sleep = c.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const files = Object.fromEntries(packages.map((p) => [p.id, p.check]));
  const state = () => guest.run<WebState>('hyperv/web/web-state.ps1', { Features: FEATURES, Files: files, SiteName: SITE });
  const stagingFor = (hash: string) => path.join(lab.store.machineDir(m.name), `app-${hash.slice(0, 12)}`);
  const guestApp = (hash: string) => `${GUEST_ROOT}\\app\\${hash.slice(0, 12)}`;
  const health = c.health ?? (() => defaultHealth(lab, m, c.guardRoute));

  const msiStep = (p: WebPackage, deps: string[]): Step => {
    const host = path.join(packageCacheDir(lab.home), p.file);
    const guestMsi = `${GUEST_ROOT}\\packages\\${p.file}`;
    const params = { MsiPath: guestMsi, CheckPath: p.check, LogPath: `${GUEST_ROOT}\\logs\\${p.id}.msi.log`, Properties: p.properties };
    const opts = { copy: { from: host, to: guestMsi } };
    return {
      id: id(`msi:${p.id}`),
      title: `${m.name}: ${p.title} (${p.sha256 ? 'sha256 pinned' : 'sha256 recorded on first download'})`,
      machine: m.name,
      deps,
      // Windows Installer runs one installation per machine at a time: a second msiexec in the
      // same guest exits 1618 (ERROR_INSTALL_ALREADY_RUNNING), so a guest's MSIs go one by one
      exclusive: `msi:${m.name}`,
      describe: () => guest.describe('hyperv/web/install-msi.ps1', params, opts),
      check: async () => Boolean((await state()).files[p.id]),
      apply: async (ctx) => {
        await ensurePackage(lab.home, p, (l) => ctx.log(l));
        await guest.run('hyperv/web/install-msi.ps1', params, opts);
      },
    };
  };

  const pkg = (pid: WebPackage['id']) => packages.find((p) => p.id === pid);
  const steps: Step[] = [
    {
      id: id('iis'),
      title: `${m.name}: IIS with Application Development, WebSocket Protocol and the Management Service`,
      machine: m.name,
      describe: () => guest.describe('hyperv/web/install-features.ps1', { Features: FEATURES }),
      check: async () => {
        const installed = (await state()).features;
        return FEATURES.every((f) => installed[f] === true);
      },
      apply: async () => {
        await guest.run('hyperv/web/install-features.ps1', { Features: FEATURES });
      },
    },
    {
      id: id('wmsvc'),
      title: `${m.name}: Web Management Service remote, automatic, running; TCP 8172 open`,
      machine: m.name,
      deps: [id('iis')],
      describe: () => guest.describe('hyperv/web/configure-wmsvc.ps1', { Port: 8172 }),
      check: async () => {
        const s = await state();
        return s.wmsvc?.status === 'Running' && s.wmsvc.startType === 'Automatic' && s.remoteManagement && s.firewall;
      },
      apply: async () => {
        await guest.run('hyperv/web/configure-wmsvc.ps1', { Port: 8172 });
      },
    },
  ];
  // Web Deploy after the Management Service, or its handler is not installed; iisnode
  // needs IIS, URL Rewrite (for the web.config rules) and Node
  const order: [WebPackage['id'], string[]][] = [
    ['webdeploy', [id('wmsvc')]],
    ['rewrite', [id('iis')]],
    ['node', [id('iis')]],
    ['iisnode', [id('msi:rewrite'), id('msi:node')]],
  ];
  for (const [pid, deps] of order) {
    const p = pkg(pid);
    if (p) steps.push(msiStep(p, deps.filter((d) => !d.startsWith(id('msi:')) || packages.some((x) => d === id(`msi:${x.id}`)))));
  }

  const publishParams = (hash: string) => ({
    AppPath: guestApp(hash),
    SiteName: SITE,
    Port: spec.app.port,
    PasswordFile: PASSWORD_FILE,
    RedisPassword: '<secret>',
  });
  steps.push(
    {
      id: id('app'),
      title: `${m.name}: chat app as IIS site ${SITE} on port ${spec.app.port} (iisnode, web.config from templates/iis)`,
      machine: m.name,
      deps: [id('iis'), ...packages.map((p) => id(`msi:${p.id}`))],
      describe: () =>
        guest.describe('hyperv/web/publish-app.ps1', publishParams('<bundle>'), {
          copy: { from: stagingFor('<bundle>'), to: guestApp('<bundle>') },
          secrets: ['RedisPassword'],
        }),
      check: async () => {
        const b = await bundle();
        const s = await state();
        return s.site?.state === 'Started' && s.site.physicalPath === guestApp(appVersion(b, renderWebConfig(lab, m)));
      },
      apply: async (ctx) => {
        const b = await bundle();
        const config = renderWebConfig(lab, m);
        const version = appVersion(b, config);
        const staging = stagingFor(version);
        rmSync(staging, { recursive: true, force: true });
        mkdirSync(staging, { recursive: true });
        for (const f of b.files) {
          mkdirSync(path.dirname(path.join(staging, f)), { recursive: true });
          cpSync(path.join(b.dir, f), path.join(staging, f));
        }
        writeFileSync(path.join(staging, 'web.config'), config);
        ctx.log(`app version ${version.slice(0, 12)} staged in ${staging}`);
        await guest.run('hyperv/web/publish-app.ps1', { ...publishParams(version), RedisPassword: redisPassword(lab) }, {
          copy: { from: staging, to: guestApp(version) },
          secrets: ['RedisPassword'],
        });
        if (existsSync(staging)) rmSync(staging, { recursive: true, force: true });
      },
    },
    {
      id: id('service'),
      title: `${m.name}: chat app answers /healthz through IIS, connected to Redis`,
      machine: m.name,
      deps: [id('app'), c.redisServiceStep],
      describe: () => ({ command: `GET http://${m.ip}:${spec.app.port}/healthz  # node ${m.name}, redis connected` }),
      check: async () => (await health()) === undefined,
      apply: async () => {
        // iisnode starts node on the first request: give it time
        let problem: string | undefined;
        for (let i = 0; i < 60; i++) {
          problem = await health();
          if (!problem) return;
          await sleep(1000);
        }
        throw new OperationError(`the chat app on ${m.name} is not ready: ${problem}`, [
          `iisnode logs are in ${GUEST_ROOT}\\app\\<version>\\iisnode on the VM (logging is on)`,
        ]);
      },
    },
  );
  return steps;
}

/** The deployed version: the bundle and the web.config together. */
function appVersion(b: AppBundle, webConfig: string): string {
  return sha256(`${b.hash}\n${webConfig}`);
}

async function defaultHealth(lab: LabContext, m: MachineSpec, guardRoute?: () => Promise<void>): Promise<string | undefined> {
  try {
    await guardRoute?.();
    const h = await getHealth(m.ip, lab.spec.app.port, 3000);
    if (h.node !== m.name) return `/healthz names node ${h.node}`;
    if (h.redis !== 'connected') return `/healthz says Redis is ${h.redis}`;
    return undefined;
  } catch (err) {
    return `/healthz: ${errorMessage(err)}`;
  }
}
