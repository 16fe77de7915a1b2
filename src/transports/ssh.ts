import { createReadStream } from 'node:fs';
import ssh2 from 'ssh2';
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { OperationError } from '../util/errors.js';
import type { ExecOptions, ExecResult, Transport } from './transport.js';

const { Client, utils } = ssh2;

export interface SshTarget {
  /** machine name, for messages */
  name: string;
  host: string;
  port?: number;
  username: string;
  privateKey: string;
  /** the machine's host public key ("ssh-ed25519 AAAA..."): anything else is refused */
  hostKey: string;
}

/** The wire form of a public key, as ssh2 hands it to the host verifier. */
export function publicKeyBlob(publicKey: string): Buffer {
  const parsed = utils.parseKey(publicKey);
  if (parsed instanceof Error) throw parsed;
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return key.getPublicSSH();
}

/** A new ed25519 key pair in OpenSSH formats (private key for sshd or the client, public line). */
export function generateSshKeyPair(comment: string): { privateKey: string; publicKey: string } {
  // ssh2's generator now and then (about 1 in 300) writes a private key it cannot parse
  // back: keep only a pair that both halves of it read
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment });
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) {
      return { privateKey: pair.private, publicKey: pair.public };
    }
  }
  throw new Error('could not generate a readable ed25519 key pair');
}

export class SshTransport implements Transport {
  private sftpSession: Promise<SFTPWrapper> | undefined;

  private constructor(
    private readonly client: InstanceType<typeof Client>,
    readonly machine: string,
  ) {}

  /** Connects with the pinned host key; a different key is refused before any auth. */
  static connect(target: SshTarget, timeoutMs = 8000): Promise<SshTransport> {
    const expected = publicKeyBlob(target.hostKey);
    return new Promise((resolve, reject) => {
      const client = new Client();
      let hostKeyMismatch = false;
      client.once('ready', () => resolve(new SshTransport(client, target.name)));
      // `on`, not `once`: ssh2 can report a second error for the same connection (a handshake
      // timeout, then "Connection lost before handshake" as it closes), and an 'error' event
      // without a listener would end the process with a stack trace
      client.on('error', (err: Error & { level?: string }) => {
        client.end();
        if (hostKeyMismatch) {
          reject(
            new OperationError(
              `${target.name} (${target.host}) presented a host key that is not the one labctl recorded; refusing to connect`,
              [
                'labctl never accepts a changed key by itself: another machine may be answering on that address, or someone in between.',
                `If ${target.name} was rebuilt outside labctl on purpose, rebuild it with labctl instead (labctl teardown, then labctl create), which records its new key.`,
              ],
            ),
          );
        } else reject(new OperationError(`cannot reach ${target.name} over SSH at ${target.host}: ${err.message}`));
      });
      client.connect({
        host: target.host,
        port: target.port ?? 22,
        username: target.username,
        privateKey: target.privateKey,
        readyTimeout: timeoutMs,
        keepaliveInterval: 10000,
        hostVerifier: (key: Buffer) => {
          const ok = Buffer.isBuffer(key) && key.equals(expected);
          if (!ok) hostKeyMismatch = true;
          return ok;
        },
      });
    });
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, stream) => {
        if (err) return reject(new OperationError(`${this.machine}: cannot run a command: ${err.message}`));
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let timer: NodeJS.Timeout | undefined;
        if (opts.timeoutMs) {
          timer = setTimeout(() => {
            stream.signal('KILL');
            stream.close();
            reject(new OperationError(`${this.machine}: "${shorten(command)}" did not finish in ${opts.timeoutMs} ms`));
          }, opts.timeoutMs);
        }
        stream.on('data', (chunk: Buffer) => {
          out.push(chunk);
          opts.onStdout?.(chunk);
        });
        stream.stderr.on('data', (chunk: Buffer) => {
          errOut.push(chunk);
          opts.onStderr?.(chunk);
        });
        stream.on('close', (code: number | null, signal?: string) => {
          if (timer) clearTimeout(timer);
          resolve({
            code: code ?? (signal ? 128 : 255),
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(errOut).toString('utf8'),
          });
        });
        if (opts.stdin !== undefined) stream.end(opts.stdin);
        else stream.end();
      });
    });
  }

  async run(command: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(command, opts);
    if (r.code !== 0) {
      const tail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-5).join('\n  ');
      throw new OperationError(`${this.machine}: "${shorten(command)}" exited with ${r.code}${tail ? `:\n  ${tail}` : ''}`);
    }
    return r.stdout;
  }

  /** An interactive shell (or command) with a terminal, wired to this process's stdio. */
  interactive(command: string | undefined, term: { rows: number; cols: number; term: string }): Promise<ClientChannel> {
    const pty = { rows: term.rows, cols: term.cols, term: term.term };
    return new Promise((resolve, reject) => {
      const done = (err: Error | undefined, stream: ClientChannel) => (err ? reject(err) : resolve(stream));
      if (command) this.client.exec(command, { pty }, done);
      else this.client.shell(pty, done);
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= new Promise((resolve, reject) => {
      this.client.sftp((err, sftp) => (err ? reject(new OperationError(`${this.machine}: SFTP unavailable: ${err.message}`)) : resolve(sftp)));
    });
    return this.sftpSession;
  }

  async upload(localPath: string, remotePath: string, mode = 0o644): Promise<void> {
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) => {
      const write = sftp.createWriteStream(remotePath, { mode });
      write.on('error', (err: Error) => reject(new OperationError(`${this.machine}: upload to ${remotePath} failed: ${err.message}`)));
      write.on('close', () => resolve());
      const read = createReadStream(localPath);
      read.on('error', (err) => reject(new OperationError(`cannot read ${localPath}: ${err.message}`)));
      read.pipe(write);
    });
    await this.chmod(remotePath, mode);
  }

  async writeFile(remotePath: string, data: string | Buffer, mode = 0o644): Promise<void> {
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) => {
      // open with the final mode so a secret is never readable by others, even briefly
      sftp.writeFile(remotePath, data, { mode }, (err) =>
        err ? reject(new OperationError(`${this.machine}: cannot write ${remotePath}: ${err.message}`)) : resolve(),
      );
    });
    await this.chmod(remotePath, mode);
  }

  async readFile(remotePath: string): Promise<Buffer> {
    const sftp = await this.sftp();
    return new Promise((resolve, reject) => {
      sftp.readFile(remotePath, (err: Error | undefined | null, data: Buffer) =>
        err ? reject(new OperationError(`${this.machine}: cannot read ${remotePath}: ${err.message}`)) : resolve(data),
      );
    });
  }

  private async chmod(remotePath: string, mode: number): Promise<void> {
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) =>
      sftp.chmod(remotePath, mode, (err) => (err ? reject(new OperationError(`${this.machine}: chmod ${remotePath}: ${err.message}`)) : resolve())),
    );
  }

  async close(): Promise<void> {
    this.client.end();
  }
}

function shorten(command: string): string {
  const one = command.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? `${one.slice(0, 77)}...` : one;
}
