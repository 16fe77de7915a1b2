import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { MachineSpec } from '../../spec/types.js';
import { UnknownMachineError, UsageError } from '../../util/errors.js';
import { openLab, type GlobalOptions } from '../context.js';
import { print, printJson } from '../output.js';

export function registerOpen(program: Command): void {
  program
    .command('open')
    .argument('<machine>', 'a web machine from the spec')
    .description("open a web machine's chat page in the desktop browser, or print its URL and an ssh -L line")
    .option('--print', 'only print the URL and the ssh -L line, never start a browser')
    .addHelpText(
      'after',
      `
A desktop browser is used where there is one: Windows (start), macOS (open), Linux with a
display (DISPLAY or WAYLAND_DISPLAY set, and xdg-open). Otherwise labctl prints the page's URL
(it answers from this host, the lab's gateway) and an ssh -L line that brings it to another
computer.

Examples:
  labctl open web1
  labctl open web2 --print
  labctl open web1 --json | jq -r .url`,
    )
    .action(async (machine: string, opts: { print?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const lab = openLab(g, 'open', { lock: false });
      await lab.close();
      const m = lab.spec.machines.find((x) => x.name === machine);
      if (!m) throw new UnknownMachineError(machine, lab.spec.name, lab.spec.machines.map((x) => x.name));
      if (m.role !== 'web') throw new UsageError(`${machine} serves no chat page (it is the ${m.role} machine): labctl redis-cli or labctl watch show Redis`);
      const url = pageUrl(m, lab.spec.app.port);
      const tunnel = tunnelLine(lab.spec.machines, m, lab.spec.app.port);
      const opener = opts.print ? undefined : desktopOpener();
      let opened = false;
      if (opener) opened = await launch(opener, url);
      if (g.json) {
        printJson({ lab: lab.spec.name, machine, url, opened, ...(opened ? {} : { tunnel: tunnel.command, tunnelUrl: tunnel.url }) });
        return;
      }
      if (opened) {
        print(`opened ${url} (${machine}) in the desktop browser`);
        return;
      }
      print(url);
      print(`from another computer: ${tunnel.command}   then ${tunnel.url}`);
    });
}

export function pageUrl(m: MachineSpec, port: number): string {
  return `http://${m.ip}${port === 80 ? '' : `:${port}`}/`;
}

/** ssh -L from another computer to this host, one local port per web machine (8081 for the first). */
export function tunnelLine(machines: MachineSpec[], m: MachineSpec, port: number): { command: string; url: string } {
  const index = machines.filter((x) => x.role === 'web').findIndex((x) => x.name === m.name);
  const local = 8081 + Math.max(0, index);
  const user = process.env.SUDO_USER || process.env.USER || process.env.USERNAME || os.userInfo().username;
  return { command: `ssh -L ${local}:${m.ip}:${port} ${user}@${os.hostname()}`, url: `http://localhost:${local}/` };
}

/** How this machine opens a URL in a desktop browser, or undefined when it has no desktop. */
export function desktopOpener(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): { file: string; args: (url: string) => string[] } | undefined {
  if (platform === 'win32') return { file: env.ComSpec || 'cmd.exe', args: (url) => ['/d', '/s', '/c', 'start', '""', url] };
  if (platform === 'darwin') return { file: 'open', args: (url) => [url] };
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return undefined;
  const xdg = onPath('xdg-open', env);
  return xdg ? { file: xdg, args: (url) => [url] } : undefined;
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** Starts the opener detached; true once it started (the browser itself is its own business). */
function launch(opener: { file: string; args: (url: string) => string[] }, url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(opener.file, opener.args(url), { detached: true, stdio: 'ignore', windowsVerbatimArguments: process.platform === 'win32' });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
