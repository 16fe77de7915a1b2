import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * Copies a VM's serial console (COM1, which Hyper-V connects to a named pipe) into a log
 * file in the lab's folder, for as long as labctl runs. Hyper-V only creates the pipe while
 * the VM runs, and a pipe has one reader, so it reconnects whenever the pipe goes away.
 * Its handles are unref'd: an open tap never keeps labctl from exiting.
 */
export interface ConsoleTap {
  readonly file: string;
  stop(): void;
}

export type ConsoleTapFactory = (pipe: string, file: string) => ConsoleTap;

export function pipeConsoleTap(pipe: string, file: string, retryMs = 2000): ConsoleTap {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let stopped = false;
  let socket: net.Socket | undefined;
  let timer: NodeJS.Timeout | undefined;

  const connect = () => {
    if (stopped) return;
    const s = net.connect(pipe);
    socket = s;
    s.unref();
    s.on('data', (chunk: Buffer) => {
      try {
        appendFileSync(file, chunk);
      } catch {
        /* the log is best effort: a full disk must not fail the create */
      }
    });
    s.on('error', () => {
      /* the VM is off or another reader holds the pipe: try again later */
    });
    s.on('close', () => {
      socket = undefined;
      if (stopped) return;
      timer = setTimeout(connect, retryMs);
      timer.unref();
    });
  };
  connect();
  return {
    file,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      socket?.destroy();
    },
  };
}

/** The last `count` lines of a console log, with terminal control sequences removed. */
export function consoleTail(file: string, count = 40): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return [];
  }
  const clean = text
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b[()][A-Za-z0-9]/g, '')
    .replace(/\r\n?/g, '\n')
    // eslint-disable-next-line no-control-regex
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
  return clean
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0)
    .slice(-count);
}
