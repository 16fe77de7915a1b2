import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { OperationError } from '../util/errors.js';
import { sleep } from '../util/time.js';

const CHUNK = 256 * 1024;

/** The last `lines` lines of a file on this host (read from its end, whatever its size). */
export function tailFile(file: string, lines: number): { text: string; size: number } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new OperationError(`${file}: ${code === 'ENOENT' ? 'no such log yet' : code}`);
  }
  try {
    const size = statSync(file).size;
    let start = size;
    let text = '';
    // read backwards in chunks until there are enough line breaks (or the file's start)
    while (start > 0) {
      const from = Math.max(0, start - CHUNK);
      const buf = Buffer.alloc(start - from);
      readSync(fd, buf, 0, buf.length, from);
      text = buf.toString('utf8') + text;
      start = from;
      if ((text.match(/\n/g)?.length ?? 0) > lines) break;
    }
    const all = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    const kept = lines <= 0 ? [] : all.slice(-lines);
    return { text: kept.length > 0 && !(kept.length === 1 && kept[0] === '') ? kept.join('\n') + '\n' : '', size };
  } finally {
    closeSync(fd);
  }
}

/**
 * `tail -n LINES -F` of a file on this host: the last lines, then whatever is appended, read
 * every `intervalMs`, until `signal` aborts. A file that shrinks (truncated, or replaced by a
 * restart) is read again from its start.
 */
export async function followFile(file: string, lines: number, write: (text: string) => void, signal: AbortSignal, intervalMs = 200): Promise<void> {
  let offset = 0;
  // a character split between two reads is written whole with the second
  const decoder = new StringDecoder('utf8');
  try {
    const first = tailFile(file, lines);
    write(first.text);
    offset = first.size;
  } catch {
    /* not there yet: it is read once it appears */
  }
  while (!signal.aborted) {
    await sleep(intervalMs);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      continue;
    }
    if (size < offset) offset = 0;
    if (size === offset) continue;
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - offset);
      const n = readSync(fd, buf, 0, buf.length, offset);
      offset += n;
      const text = decoder.write(buf.subarray(0, n));
      if (text) write(text);
    } finally {
      closeSync(fd);
    }
  }
}
