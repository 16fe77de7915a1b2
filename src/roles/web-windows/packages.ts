import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LabBusyError, LabLock } from '../../state/lock.js';
import { downloadVerified } from '../../util/download.js';
import { OperationError, errorMessage } from '../../util/errors.js';
import { sha256File } from '../../util/hash.js';
import { proxiedFetch } from '../../util/proxy.js';
import type { LabSpec } from '../../spec/types.js';

/** An installer the web VMs need, fetched once on the host, checked, then copied in. */
export interface WebPackage {
  id: 'webdeploy' | 'rewrite' | 'node' | 'iisnode';
  title: string;
  url: string;
  /** pinned digest; absent: the first download's digest is recorded and every later use must match it */
  sha256?: string;
  file: string;
  /** a file in the guest that exists once the package is installed */
  check: string;
  /** msiexec properties */
  properties: string[];
  /** a local copy to use as it is (hyperv.installers.<id>.file): never downloaded or copied to the cache */
  localPath?: string;
  /** the spec field this package comes from, when the spec chose it (for error messages) */
  specField?: string;
}

/**
 * Pinned from the vendors' published files (microsoft/winget-pkgs manifests, see
 * shared/research/app-side.md §2). iisnode's release carries no published digest, so it is
 * trusted on first download and pinned from then on (the digest is kept beside the file).
 */
export const WEB_PACKAGES: WebPackage[] = [
  {
    id: 'webdeploy',
    title: 'Web Deploy 3.6',
    url: 'https://download.microsoft.com/download/0/1/D/01DC28EA-638C-4A22-A57B-4CEF97755C6C/WebDeploy_amd64_en-US.msi',
    sha256: '2150f9d1ab67e1b7b63559fb977ba9adc49f2b064fe2669a2e70d313a36b9a3d',
    file: 'WebDeploy_amd64_en-US.msi',
    check: 'C:\\Program Files\\IIS\\Microsoft Web Deploy V3\\msdeploy.exe',
    // every feature, including the Management Service handler (WMSvc is installed first)
    properties: ['ADDLOCAL=ALL'],
  },
  {
    id: 'rewrite',
    title: 'IIS URL Rewrite 2.1',
    url: 'https://download.microsoft.com/download/1/2/8/128E2E22-C1B9-44A4-BE2A-5859ED1D4592/rewrite_amd64_en-US.msi',
    sha256: '37342ff2f585f263f34f48e9de59eb1051d61015a8e967dbde4075716230a32a',
    file: 'rewrite_amd64_en-US.msi',
    check: 'C:\\Windows\\System32\\inetsrv\\rewrite.dll',
    properties: [],
  },
  {
    id: 'node',
    title: 'Node.js 22.12.0',
    url: 'https://nodejs.org/dist/v22.12.0/node-v22.12.0-x64.msi',
    sha256: '5fa43604523be95f8e73c4c98337a5c2bf02450a6525ad25ec2926e464e6bcef',
    file: 'node-v22.12.0-x64.msi',
    check: 'C:\\Program Files\\nodejs\\node.exe',
    properties: [],
  },
  {
    id: 'iisnode',
    title: 'iisnode 0.2.26',
    url: 'https://github.com/Azure/iisnode/releases/download/v0.2.26/iisnode-full-v0.2.26-x64.msi',
    file: 'iisnode-full-v0.2.26-x64.msi',
    check: 'C:\\Program Files\\iisnode\\iisnode.dll',
    properties: [],
  },
];

/**
 * The installers of a lab: the pinned ones, each replaced by the spec's hyperv.installers
 * entry where it has one (a local file, or another URL; either way with its sha256).
 */
export function webPackagesFor(spec: LabSpec): WebPackage[] {
  const chosen = spec.hyperv?.installers ?? {};
  return WEB_PACKAGES.map((p) => {
    const o = chosen[p.id];
    if (!o) return p;
    const specField = `hyperv.installers.${p.id}`;
    if (o.file !== undefined) {
      return { ...p, title: `${p.title} (your copy)`, url: pathToFileURL(o.file).href, localPath: o.file, file: path.basename(o.file), sha256: o.sha256, specField };
    }
    // another version may have the pinned one's file name: the digest keeps them apart in the cache
    const name = decodeURIComponent(new URL(o.url!).pathname.split('/').pop() || `${p.id}.msi`).replace(/[^A-Za-z0-9._-]/g, '_');
    return { ...p, title: `${p.title} (from ${o.url})`, url: o.url!, file: `${o.sha256.slice(0, 12)}-${name}`, sha256: o.sha256, specField };
  });
}

/** Where an installer is on the host: the spec's own copy, or the cache. */
export function packageHostPath(home: string, pkg: WebPackage): string {
  return pkg.localPath ?? path.join(packageCacheDir(home), pkg.file);
}

/** Where the host keeps the installers (LABCTL_CACHE to share them, as for the other downloads). */
export function packageCacheDir(home: string): string {
  return path.join(process.env.LABCTL_CACHE ? path.resolve(process.env.LABCTL_CACHE) : path.join(home, 'cache'), 'msi');
}

/** Downloads under way in this process, by cache file: web1 and web2 wait for the same one. */
const inFlight = new Map<string, Promise<string>>();

/** How long a labctl waits for another one's download of the same package before giving up. */
export const PACKAGE_LOCK_WAIT_MS = 30 * 60_000;

/**
 * The package on the host, downloaded and checked once; a file that does not match is never
 * used. One download per package file: the steps of every web machine in this process share it
 * (web1 and web2 asked at once and wrote the same .partial file, and an unpinned package's
 * digest was recorded from whichever finished first), and a lock file beside it makes another
 * labctl process wait for it rather than download it again into the same place.
 */
export function ensurePackage(home: string, pkg: WebPackage, log: (line: string) => void = () => {}): Promise<string> {
  if (pkg.localPath) return checkLocalPackage(pkg);
  const file = path.join(packageCacheDir(home), pkg.file);
  const under = inFlight.get(file);
  if (under) {
    log(`${pkg.title}: waiting for the download already under way`);
    return under;
  }
  const p = withPackageLock(file, pkg, log, () => ensurePackageNow(file, pkg, log)).finally(() => inFlight.delete(file));
  inFlight.set(file, p);
  return p;
}

async function withPackageLock<T>(file: string, pkg: WebPackage, log: (line: string) => void, work: () => Promise<T>): Promise<T> {
  mkdirSync(path.dirname(file), { recursive: true });
  const lock = new LabLock(`${file}.lock`, pkg.file);
  const deadline = Date.now() + PACKAGE_LOCK_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      lock.acquire(`download ${pkg.file}`);
      break;
    } catch (err) {
      if (!(err instanceof LabBusyError)) throw err;
      if (Date.now() > deadline) {
        throw new OperationError(`${pkg.title}: another labctl has held ${file}.lock for ${Math.round(PACKAGE_LOCK_WAIT_MS / 60_000)} min: is it stuck? Delete the lock file if no labctl runs`);
      }
      if (!told) log(`${pkg.title}: another labctl is downloading ${pkg.file}; waiting for it`);
      told = true;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await work();
  } finally {
    lock.release();
  }
}

async function ensurePackageNow(file: string, pkg: WebPackage, log: (line: string) => void): Promise<string> {
  const record = `${file}.sha256`;
  const expected = pkg.sha256?.toLowerCase() ?? (existsSync(record) ? readFileSync(record, 'utf8').trim() : undefined);
  if (existsSync(file)) {
    const got = await sha256File(file);
    if (expected && got !== expected) {
      throw new OperationError(`${file} does not match its sha256 (${expected}, got ${got}): delete it to download it again`);
    }
    if (!expected) writeFileSync(record, got + '\n');
    return file;
  }
  log(`downloading ${pkg.url}`);
  if (expected) {
    await downloadVerified(pkg.url, expected, file);
    return file;
  }
  const partial = `${file}.partial`;
  try {
    const res = await proxiedFetch(pkg.url, { redirect: 'follow' });
    if (!res.ok || !res.body) throw new OperationError(`download of ${pkg.url} failed: HTTP ${res.status}`);
    await pipeline(Readable.fromWeb(res.body as never), createWriteStream(partial));
    const got = await sha256File(partial);
    // the digest first: if labctl stops before the rename, the next download must match it
    writeFileSync(record, got + '\n');
    renameSync(partial, file);
    log(`${pkg.title} has no published sha256: recorded ${got} from this first download; later runs must match it`);
    return file;
  } catch (err) {
    rmSync(partial, { force: true });
    throw err instanceof OperationError ? err : new OperationError(`download of ${pkg.url} failed: ${errorMessage(err)}`);
  }
}

/** The spec's own copy of an installer: it must be there and match the sha256 the spec gives. */
async function checkLocalPackage(pkg: WebPackage): Promise<string> {
  const file = pkg.localPath!;
  const field = pkg.specField ?? pkg.id;
  if (!existsSync(file)) throw new OperationError(`${field}.file: ${file} does not exist`);
  const got = await sha256File(file);
  if (got !== pkg.sha256?.toLowerCase()) {
    throw new OperationError(`${field}: ${file} has sha256 ${got}, the spec says ${pkg.sha256}: a different file, or the wrong digest in the spec`);
  }
  return file;
}
