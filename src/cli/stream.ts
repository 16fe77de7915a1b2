import type { Transport } from '../transports/transport.js';

/** Runs a command on a machine with its output streamed to ours; resolves to its exit code. */
export async function streamCommand(t: Transport, command: string): Promise<number> {
  const r = await t.exec(command, {
    onStdout: (c) => process.stdout.write(c),
    onStderr: (c) => process.stderr.write(c),
  });
  return r.code;
}
