import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Step, StepAction } from '../../engine/step.js';
import type { LabContext } from '../../providers/provider.js';
import { redisMachine, type MachineSpec } from '../../spec/types.js';
import { generateWindowsPassword } from '../../state/secrets.js';
import { OperationError, errorMessage } from '../../util/errors.js';
import { sha256 } from '../../util/hash.js';
import { escapeXml, renderTemplate } from '../../util/template.js';
import { getHealth } from '../../verify/http.js';
import { CHAT_USER, chatPassword } from '../redis/acl.js';
import { redisTopologySettings } from '../redis/cluster-config.js';
import { loadBundle, type AppBundle } from '../web-linux/bundle.js';
import { ensurePackage, packageHostPath, WEB_PACKAGES, type WebPackage } from './packages.js';

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

/**
 * How the role runs a script on the Windows host itself (templates/hyperv/*.ps1): Web Deploy
 * publishes from the host, through the VM's Web Management Service.
 */
export interface HostChannel {
  run<T>(hostScript: string, params: Record<string, unknown>): Promise<T>;
  describe(hostScript: string, params: Record<string, unknown>): StepAction;
}

export type PublishMethod = 'webdeploy' | 'copy';

export interface WebWindowsContext {
  lab: LabContext;
  machine: MachineSpec;
  guest: GuestChannel;
  /** needed with Web Deploy publishing */
  host?: HostChannel;
  /** default: the spec's hyperv.publish (webdeploy) */
  publish?: PublishMethod;
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
/** the site's folder when Web Deploy publishes: fixed, Web Deploy syncs into it */
export const SITE_PATH = `${GUEST_ROOT}\\site`;
/** the local Windows user Web Deploy publishes as (not an administrator); at most 20 characters */
export const PUBLISH_USER = 'labctl-publish';
export const publishPasswordSecret = (machine: string) => `hyperv-publish-${machine}`;
/** WMSvc's port, where Web Deploy's handler answers (msdeploy.axd) */
export const MANAGEMENT_PORT = 8172;
const NODE_EXE = 'C:\\Program Files\\nodejs\\node.exe';

interface WebState {
  features: Record<string, boolean>;
  files: Record<string, boolean>;
  wmsvc: { status: string; startType: string } | null;
  remoteManagement: boolean;
  firewall: boolean;
  site: { state: string; physicalPath: string; bindings: string } | null;
  /** sha256 of every file in the site folder (without iisnode's logs), when asked for */
  siteFiles?: Record<string, string> | null;
  publishing?: { user: boolean; authorized: boolean; modify: boolean } | null;
  passwordSha256?: string | null;
}

/** The publishing user's password: generated once per machine, kept in the lab's secrets (0600). */
export function publishPassword(lab: LabContext, machine: string): string {
  return lab.store.secrets.ensure(publishPasswordSecret(machine), () => generateWindowsPassword(24));
}

/** Where labctl keeps a web node's .publishsettings: the machine's folder in the lab's state folder. */
export function publishSettingsPath(lab: LabContext, machine: string): string {
  return path.join(lab.store.machineDir(machine), `${machine}.publishsettings`);
}

/**
 * The .publishsettings of a web node: the ecosystem's own XML (the file Web Deploy's
 * SetupSiteForPublish.ps1 and IIS Manager's "Configure Web Deploy Publishing" write, and that
 * Visual Studio imports): publishMethod MSDeploy, the node's WMSvc address, the site, the
 * publishing user and its password, and where the site answers.
 */
export function renderPublishSettings(lab: LabContext, m: MachineSpec): string {
  const port = lab.spec.app.port;
  return renderTemplate(
    'iis/site.publishsettings',
    {
      profileName: `labctl ${lab.spec.name} ${m.name} - Web Deploy`,
      publishUrl: `${m.ip}:${MANAGEMENT_PORT}`,
      site: SITE,
      userName: PUBLISH_USER,
      password: publishPassword(lab, m.name),
      appUrl: `http://${m.ip}${port === 80 ? '' : `:${port}`}/`,
    },
    escapeXml,
  );
}

/** web.config for iisnode, every value XML-escaped. */
export function renderWebConfig(lab: LabContext, m: MachineSpec): string {
  const spec = lab.spec;
  const v = {
    lab: spec.name,
    node: m.name,
    redisHost: redisMachine(spec).ip,
    redisPort: String(spec.redis.port),
    ...redisTopologySettings(spec),
    redisUser: CHAT_USER,
    passwordFile: PASSWORD_FILE,
    channel: spec.redis.channel,
    backplane: spec.redis.backplane,
    ratePerSec: String(spec.app.rateLimit.perSecond),
    rateBurst: String(spec.app.rateLimit.burst),
    nodeExe: NODE_EXE,
  };
  return renderTemplate('iis/web.config', v, escapeXml);
}

/**
 * The seed's Windows web server, over PowerShell Direct: IIS with the WebSocket Protocol
 * and the Management Service, WMSvc open for remote management on 8172, Web Deploy, URL
 * Rewrite, Node.js and iisnode from checked installers, then the chat app as an IIS site:
 * published with Web Deploy from the host as the tutorial does (hyperv.publish: webdeploy, the
 * default), or copied in over PowerShell Direct (hyperv.publish: copy).
 */
export function webWindowsSteps(c: WebWindowsContext): Step[] {
  const { lab, machine: m, guest } = c;
  const spec = lab.spec;
  const id = (what: string) => `web:${m.name}:${what}`;
  const packages = c.packages ?? WEB_PACKAGES;
  const publish = c.publish ?? spec.hyperv?.publish ?? 'webdeploy';
  const bundle = c.bundle ?? (() => loadBundle());
  const sleep = c.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const files = Object.fromEntries(packages.map((p) => [p.id, p.check]));
  const stateParams =
    publish === 'webdeploy'
      ? { Features: FEATURES, Files: files, SiteName: SITE, SitePath: SITE_PATH, PublishUser: PUBLISH_USER, PasswordFile: PASSWORD_FILE }
      : { Features: FEATURES, Files: files, SiteName: SITE };
  const state = () => guest.run<WebState>('hyperv/web/web-state.ps1', stateParams);
  const stagingFor = (hash: string) => path.join(lab.store.machineDir(m.name), `app-${hash.slice(0, 12)}`);
  const guestApp = (hash: string) => `${GUEST_ROOT}\\app\\${hash.slice(0, 12)}`;
  const health = c.health ?? (() => defaultHealth(lab, m, c.guardRoute));

  const msiStep = (p: WebPackage, deps: string[]): Step => {
    const host = packageHostPath(lab.home, p);
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

  const stage = async (ctx: { log(line: string): void }) => {
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
    return { staging, version };
  };
  const allMsi = packages.map((p) => id(`msi:${p.id}`));
  if (publish === 'copy') steps.push(copyAppStep());
  else steps.push(...webDeploySteps());

  /** hyperv.publish: copy — the app copied in over PowerShell Direct, the site pointed at it */
  function copyAppStep(): Step {
    const siteParams = (hash: string, secrets: boolean) => ({
      SiteName: SITE,
      SitePath: guestApp(hash),
      Port: spec.app.port,
      PasswordFile: PASSWORD_FILE,
      RedisPassword: secrets ? chatPassword(lab) : '<secret>',
      NewContent: true,
    });
    return {
      id: id('app'),
      title: `${m.name}: chat app as IIS site ${SITE} on port ${spec.app.port}, copied in over PowerShell Direct (iisnode, web.config from templates/iis)`,
      machine: m.name,
      deps: [id('iis'), ...allMsi],
      describe: () =>
        guest.describe('hyperv/web/site.ps1', siteParams('<bundle>', false), {
          copy: { from: stagingFor('<bundle>'), to: guestApp('<bundle>') },
          secrets: ['RedisPassword'],
        }),
      check: async () => {
        const b = await bundle();
        const s = await state();
        return s.site?.state === 'Started' && s.site.physicalPath === guestApp(appVersion(b, renderWebConfig(lab, m)));
      },
      apply: async (ctx) => {
        const { staging, version } = await stage(ctx);
        await guest.run('hyperv/web/site.ps1', siteParams(version, true), {
          copy: { from: staging, to: guestApp(version) },
          secrets: ['RedisPassword'],
        });
        if (existsSync(staging)) rmSync(staging, { recursive: true, force: true });
      },
    };
  }

  /**
   * hyperv.publish: webdeploy (the default) — as the tutorial publishes: PowerShell Direct only
   * prepares what Web Deploy needs (the site over a fixed folder, the publishing user with IIS
   * Manager Permissions and Modify on that folder), labctl writes the node's .publishsettings,
   * and msdeploy.exe on the host publishes the app through the VM's Web Management Service.
   */
  function webDeploySteps(): Step[] {
    const host = c.host;
    const settingsFile = publishSettingsPath(lab, m.name);
    const siteParams = (secrets: boolean) => ({
      SiteName: SITE,
      SitePath: SITE_PATH,
      Port: spec.app.port,
      PasswordFile: PASSWORD_FILE,
      RedisPassword: secrets ? chatPassword(lab) : '<secret>',
    });
    const publisherParams = (secrets: boolean) => ({
      SiteName: SITE,
      SitePath: SITE_PATH,
      PublishUser: PUBLISH_USER,
      PublishPassword: secrets ? publishPassword(lab, m.name) : '<secret>',
    });
    const publishCall = (staging: string) => ({ SourcePath: staging, SiteName: SITE, PublishSettingsPath: settingsFile, SkipFolders: ['iisnode'] });
    const needHost = (): HostChannel => {
      if (!host) throw new OperationError(`${m.name}: publishing with Web Deploy runs msdeploy.exe on the Windows host, and this provider gives the role no host channel`);
      return host;
    };
    /** what the site folder holds after a publish of this build: each file's sha256 */
    const expectedFiles = async (): Promise<Record<string, string>> => {
      const b = await bundle();
      const out: Record<string, string> = {};
      for (const f of b.files) out[f] = sha256(readFileSync(path.join(b.dir, f)));
      out['web.config'] = sha256(renderWebConfig(lab, m));
      return out;
    };
    return [
      {
        id: id('site'),
        title: `${m.name}: IIS site ${SITE} on port ${spec.app.port} over ${SITE_PATH}, the Redis password readable by its pool only`,
        machine: m.name,
        deps: [id('iis'), id('wmsvc'), ...allMsi.filter((d) => d === id('msi:webdeploy'))],
        describe: () => guest.describe('hyperv/web/site.ps1', siteParams(false), { secrets: ['RedisPassword'] }),
        check: async () => {
          const s = await state();
          return s.site?.state === 'Started' && s.site.physicalPath === SITE_PATH && s.passwordSha256 === sha256(chatPassword(lab));
        },
        apply: async () => {
          await guest.run('hyperv/web/site.ps1', siteParams(true), { secrets: ['RedisPassword'] });
        },
      },
      {
        id: id('publisher'),
        title: `${m.name}: publishing user ${PUBLISH_USER} (not an administrator) with IIS Manager Permissions on ${SITE} and Modify on ${SITE_PATH}`,
        machine: m.name,
        deps: [id('site')],
        describe: () => guest.describe('hyperv/web/publishing-user.ps1', publisherParams(false), { secrets: ['PublishPassword'] }),
        check: async () => {
          const p = (await state()).publishing;
          return p?.user === true && p.authorized && p.modify;
        },
        apply: async () => {
          await guest.run('hyperv/web/publishing-user.ps1', publisherParams(true), { secrets: ['PublishPassword'] });
        },
      },
      {
        id: id('publishsettings'),
        title: `${m.name}: Web Deploy publish settings for Visual Studio in ${settingsFile} (mode 0600)`,
        machine: m.name,
        deps: [id('publisher')],
        describe: () => ({ command: `write ${settingsFile}  # publishProfile MSDeploy, ${m.ip}:${MANAGEMENT_PORT}, site ${SITE}, user ${PUBLISH_USER}, password from the lab secrets` }),
        check: async () => existsSync(settingsFile) && readFileSync(settingsFile, 'utf8') === renderPublishSettings(lab, m),
        apply: async (ctx) => {
          mkdirSync(path.dirname(settingsFile), { recursive: true });
          writeFileSync(settingsFile, renderPublishSettings(lab, m), { mode: 0o600 });
          chmodSync(settingsFile, 0o600);
          ctx.log(`publish settings for ${m.name}: ${settingsFile}`);
        },
      },
      {
        id: id('app'),
        title: `${m.name}: chat app published with Web Deploy (msdeploy.exe on this host, through ${m.ip}:${MANAGEMENT_PORT}, as ${PUBLISH_USER})`,
        machine: m.name,
        deps: [id('site'), id('publisher'), id('publishsettings'), ...allMsi],
        describe: () => (host ? host.describe('hyperv/publish-webdeploy.ps1', publishCall(stagingFor('<bundle>'))) : { command: 'msdeploy.exe on the Windows host' }),
        check: async () => {
          const want = await expectedFiles();
          const have = (await state()).siteFiles ?? {};
          return JSON.stringify(sortKeys(have)) === JSON.stringify(sortKeys(want));
        },
        apply: async (ctx) => {
          const h = needHost();
          const { staging } = await stage(ctx);
          try {
            const r = await h.run<{ summary: string; changes?: string[] }>('hyperv/publish-webdeploy.ps1', publishCall(staging));
            for (const line of r.changes ?? []) ctx.log(line);
            ctx.log(`msdeploy: ${r.summary || 'done'}`);
          } finally {
            rmSync(staging, { recursive: true, force: true });
          }
        },
      },
    ];
  }
  steps.push(
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
          `iisnode logs are in ${publish === 'copy' ? `${GUEST_ROOT}\\app\\<version>` : SITE_PATH}\\iisnode on the VM (logging is on)`,
        ]);
      },
    },
  );
  return steps;
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
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
