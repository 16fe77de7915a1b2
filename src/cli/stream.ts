import type { ClientChannel } from 'ssh2';
import type { SshTransport } from '../transports/ssh.js';
import type { Transport } from '../transports/transport.js';

/** Runs a command on a machine with its output streamed to ours; resolves to its exit code. */
export async function streamCommand(t: Transport, command: string, forwardStdin = false): Promise<number> {
  const stdin = forwardStdin ? await readAll(process.stdin) : undefined;
  const r = await t.exec(command, {
    stdin,
    onStdout: (c) => process.stdout.write(c),
    onStderr: (c) => process.stderr.write(c),
  });
  return r.code;
}

/** A remote shell or program with a terminal, wired to ours until it exits; resolves to its exit code. */
export async function runInteractive(t: SshTransport, command: string | undefined): Promise<number> {
  const stream: ClientChannel = await t.interactive(command, {
    rows: process.stdout.rows ?? 24,
    cols: process.stdout.columns ?? 80,
    term: process.env.TERM ?? 'xterm-256color',
  });
  process.stdin.setRawMode(true);
  process.stdin.resume();
  process.stdin.pipe(stream);
  stream.pipe(process.stdout);
  stream.stderr.pipe(process.stderr);
  const onResize = () => stream.setWindow(process.stdout.rows ?? 24, process.stdout.columns ?? 80, 0, 0);
  process.stdout.on('resize', onResize);
  return new Promise((resolve) => {
    stream.on('close', (code: number | null) => {
      process.stdout.off('resize', onResize);
      process.stdin.unpipe(stream);
      process.stdin.setRawMode(false);
      process.stdin.pause();
      resolve(code ?? 0);
    });
  });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}
