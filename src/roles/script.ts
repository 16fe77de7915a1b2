import { readFileSync } from 'node:fs';
import type { MachineAccess } from '../providers/provider.js';
import { shq, type ExecOptions, type ExecResult, type Transport } from '../transports/transport.js';
import { templatePath } from '../util/template.js';

/**
 * Runs a shell script from templates/ on a machine: the script goes in on stdin and
 * its arguments are quoted one by one, so no value is ever spliced into script text.
 */
export function runScript(
  t: Transport,
  access: Pick<MachineAccess, 'asRoot'>,
  template: string,
  args: string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const script = readFileSync(templatePath(template), 'utf8');
  const command = `sh -s -- ${args.map(shq).join(' ')}`;
  return t.exec(access.asRoot ? access.asRoot(command) : command, { ...opts, stdin: script });
}

/** The command line `runScript` would send, for `plan`. */
export function scriptCommand(template: string, args: string[]): string {
  return `sh templates/${template} ${args.map(shq).join(' ')}`;
}

export function asRoot(access: Pick<MachineAccess, 'asRoot'>, command: string): string {
  return access.asRoot ? access.asRoot(command) : command;
}

/**
 * Writes a file on a machine with its final mode from the first byte. When commands
 * need sudo, the login user cannot write system paths over SFTP, so the file goes to a
 * private temporary name first and `install` moves it into place as root.
 */
export async function putFile(
  t: Transport,
  access: Pick<MachineAccess, 'asRoot'>,
  remotePath: string,
  content: string | Buffer,
  mode: number,
): Promise<void> {
  const dir = remotePath.slice(0, remotePath.lastIndexOf('/')) || '/';
  if (!access.asRoot) {
    await t.run(`mkdir -p ${shq(dir)}`);
    await t.writeFile(remotePath, content, mode);
    return;
  }
  const tmp = `/tmp/labctl-put-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await t.writeFile(tmp, content, 0o600);
  const octal = mode.toString(8).padStart(4, '0');
  await t.run(access.asRoot(`sh -c ${shq(`mkdir -p ${shq(dir)} && install -m ${octal} ${shq(tmp)} ${shq(remotePath)}; rc=$?; rm -f ${shq(tmp)}; exit $rc`)}`));
}

/** sha256 of a file on the machine, or undefined when it does not exist. */
export async function remoteSha256(t: Transport, access: Pick<MachineAccess, 'asRoot'>, remotePath: string): Promise<string | undefined> {
  const r = await t.exec(asRoot(access, `sha256sum ${shq(remotePath)}`));
  return r.code === 0 ? r.stdout.split(' ')[0] : undefined;
}


/**
 * Uploads a file of the host to a machine over SFTP. When commands need sudo, the login user
 * cannot write system paths, so it goes to a private temporary name first, as putFile does.
 */
export async function uploadFile(t: Transport, access: Pick<MachineAccess, 'asRoot'>, localFile: string, remotePath: string, mode = 0o644): Promise<void> {
  if (!access.asRoot) {
    await t.upload(localFile, remotePath, mode);
    return;
  }
  const tmp = `/tmp/labctl-upload-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await t.upload(localFile, tmp, 0o600);
  const octal = mode.toString(8).padStart(4, '0');
  await t.run(access.asRoot(`sh -c ${shq(`install -m ${octal} ${shq(tmp)} ${shq(remotePath)}; rc=$?; rm -f ${shq(tmp)}; exit $rc`)}`));
}

/** Runs `fn` with a connection to the machine, closed (or handed back to the pool) after. */
export async function withConnection<T>(access: Pick<MachineAccess, 'connect'>, fn: (t: Transport) => Promise<T>): Promise<T> {
  const t = await access.connect();
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}
