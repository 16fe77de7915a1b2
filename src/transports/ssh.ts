import { createReadStream } from 'node:fs';
import ssh2 from 'ssh2';
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { InterruptedError, interruptRequested, onInterrupt, throwIfInterrupted } from '../util/cancel.js';
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
    throwIfInterrupted();
    const expected = publicKeyBlob(target.hostKey);
    return new Promise((resolve, reject) => {
      const client = new Client();
      let hostKeyMismatch = false;
      // Ctrl-C while connecting: give up now rather than hold labctl until the timeout
      const unregister = onInterrupt(() => {
        client.end();
        reject(new InterruptedError(interruptRequested() ?? 'SIGINT'));
      });
      client.once('ready', () => {
        unregister();
        // Without TCP_NODELAY each small request waits for the peer's delayed ACK (Nagle):
        // an exec took ~90 ms instead of ~10 on loopback, an 8.6 MB SFTP upload 1.5 s instead of 0.2
        client.setNoDelay(true);
        resolve(new SshTransport(client, target.name));
      });
      // `on`, not `once`: ssh2 can report a second error for the same connection (a handshake
      // timeout, then "Connection lost before handshake" as it closes), and an 'error' event
      // without a listener would end the process with a stack trace
      client.on('error', (err: Error & { level?: string }) => {
        unregister();
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

  /**
   * Runs a command; its process group is killed when labctl is interrupted or the timeout
   * passes. Closing the channel alone would leave it running (sshd gives a session without a
   * terminal no SIGHUP, and OpenSSH refuses the "signal" request for a root login), so the
   * command first reports its process group (the session leader's pid: sshd starts each
   * session with setsid) on stderr, where exec takes it out again, and the group is killed
   * through a second channel of the same connection.
   */
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    throwIfInterrupted();
    return new Promise((resolve, reject) => {
      this.client.exec(`printf '${PGID_MARK}%s\\n' "$$" >&2; ${command}`, (err, stream) => {
        if (err) return reject(new OperationError(`${this.machine}: cannot run a command: ${err.message}`));
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let timer: NodeJS.Timeout | undefined;
        let closed = false;
        const marker = new PgidMarker((chunk) => {
          errOut.push(chunk);
          opts.onStderr?.(chunk);
        });
        const stop = async () => {
          if (closed) return;
          const pgid = await marker.pgid(300);
          if (pgid !== undefined && !closed) await this.killGroup(pgid);
          stream.signal('KILL');
          stream.close();
        };
        const unregister = onInterrupt(stop);
        if (opts.timeoutMs) {
          timer = setTimeout(() => {
            void stop();
            reject(new OperationError(`${this.machine}: "${shorten(command)}" did not finish in ${opts.timeoutMs} ms`));
          }, opts.timeoutMs);
        }
        stream.on('data', (chunk: Buffer) => {
          out.push(chunk);
          opts.onStdout?.(chunk);
        });
        stream.stderr.on('data', (chunk: Buffer) => marker.write(chunk));
        stream.on('close', (code: number | null, signal?: string) => {
          closed = true;
          unregister();
          marker.end();
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

  /**
   * SIGTERM to a process group on the machine, SIGKILL to what is left of it after a second;
   * through sudo too where the login is not root (sudo relays the signal to its command).
   * Resolves when done, or after 1.5 s.
   */
  private killGroup(pgid: number): Promise<void> {
    const g = `-${pgid}`;
    // members that still run (zombies do not count: an init that is slow to reap them, as in
    // some containers, would otherwise hold the wait to its end)
    const alive = `ps -e -o pgid=,stat= | awk -v g=${pgid} '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'`;
    const script =
      `kill -TERM -- ${g} 2>/dev/null || sudo -n kill -TERM -- ${g} 2>/dev/null; i=0; ` +
      `while ${alive} && [ $i -lt 10 ]; do sleep 0.1; i=$((i+1)); done; ` +
      `kill -KILL -- ${g} 2>/dev/null || sudo -n kill -KILL -- ${g} 2>/dev/null; true`;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 1500);
      try {
        this.client.exec(script, (err, stream) => {
          if (err) {
            clearTimeout(timer);
            return resolve();
          }
          stream.on('close', () => {
            clearTimeout(timer);
            resolve();
          });
          stream.resume();
          stream.stderr.resume();
          stream.end();
        });
      } catch {
        clearTimeout(timer);
        resolve();
      }
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

/** Starts the line on which a command reports its process group (see SshTransport.exec). */
const PGID_MARK = '\\001labctl-pgid ';

/**
 * Takes the process-group line out of a command's stderr and passes the rest on unchanged.
 * sshd may write to stderr before the shell runs (a missing home folder, say), so the line is
 * looked for in the first few kilobytes, not only at the start.
 */
export class PgidMarker {
  private pending: Buffer | undefined = Buffer.alloc(0);
  private value: number | undefined;
  private readonly waiters: ((pgid: number | undefined) => void)[] = [];

  constructor(private readonly pass: (chunk: Buffer) => void) {}

  write(chunk: Buffer): void {
    if (!this.pending) return this.pass(chunk);
    const data = Buffer.concat([this.pending, chunk]);
    const text = data.toString('latin1');
    const m = /\x01labctl-pgid (\d+)\n/.exec(text);
    if (m) {
      this.pending = undefined;
      this.settle(Number(m[1]));
      const before = data.subarray(0, m.index);
      const after = data.subarray(m.index + m[0].length);
      if (before.length > 0) this.pass(before);
      if (after.length > 0) this.pass(after);
    } else if (data.length > 4096) {
      this.pending = undefined;
      this.settle(undefined);
      this.pass(data);
    } else this.pending = data;
  }

  end(): void {
    if (this.pending && this.pending.length > 0) this.pass(this.pending);
    this.pending = undefined;
    this.settle(undefined);
  }

  /** the process group, once reported (undefined if it is not within `waitMs`) */
  pgid(waitMs: number): Promise<number | undefined> {
    if (this.value !== undefined || !this.pending) return Promise.resolve(this.value);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.value), waitMs);
      this.waiters.push((v) => {
        clearTimeout(timer);
        resolve(v);
      });
    });
  }

  private settle(pgid: number | undefined): void {
    this.value ??= pgid;
    for (const w of this.waiters.splice(0)) w(this.value);
  }
}

function shorten(command: string): string {
  const one = command.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? `${one.slice(0, 77)}...` : one;
}
