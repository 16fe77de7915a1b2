export interface ExecOptions {
  stdin?: string | Buffer;
  /** stop waiting after this long (the remote command is signalled) */
  timeoutMs?: number;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How labctl reaches inside a machine: run a command, move files. */
export interface Transport {
  readonly machine: string;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** like exec, but a non-zero exit is an error that quotes the command's last lines */
  run(command: string, opts?: ExecOptions): Promise<string>;
  upload(localPath: string, remotePath: string, mode?: number): Promise<void>;
  writeFile(remotePath: string, data: string | Buffer, mode?: number): Promise<void>;
  readFile(remotePath: string): Promise<Buffer>;
  close(): Promise<void>;
}

/** Quotes one word for a POSIX shell. */
export function shq(word: string): string {
  if (/^[A-Za-z0-9_\/.:=@%+,-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
