import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { onInterrupt, throwIfInterrupted } from '../util/cancel.js';
import { OperationError, PreflightError, errorMessage } from '../util/errors.js';
import { TEMPLATES_DIR, templatePath } from '../util/template.js';

/**
 * How labctl runs PowerShell on the Hyper-V host: a script file under templates/, named
 * parameters in, one JSON value out.
 */
export interface PowerShellRunner {
  /**
   * Runs `script` (a path relative to templates/, e.g. "hyperv/new-vm.ps1") with `params`
   * bound by name and returns what the script output last, parsed from JSON. A script that
   * throws rejects with a PowerShellError carrying its message and position.
   */
  invoke<T = unknown>(script: string, params: Record<string, unknown>, opts?: InvokeOptions): Promise<T>;
  dispose(): Promise<void>;
}

export interface InvokeOptions {
  /** give up after this long; the session is then restarted, since its state is unknown */
  timeoutMs?: number;
  /** receives the script's warnings, verbose and information messages */
  onLog?: (line: string) => void;
}

export interface ScriptRequest {
  id: string;
  /** absolute path of the script file on the host */
  script: string;
  params: Record<string, unknown>;
}

export interface ScriptAnswer {
  id: string;
  ok: boolean;
  result: unknown;
  logs: string[];
  error: { message: string; type?: string; errorId?: string; category?: string; position?: string } | null;
}

export const WRAPPER = 'hyperv/_invoke.ps1';

export class PowerShellError extends OperationError {
  constructor(
    readonly script: string,
    readonly reason: string,
    readonly position: string | undefined,
    readonly logs: string[],
  ) {
    const where = position ? position.split(/\r?\n/).map((l) => l.trimEnd()).filter(Boolean) : [];
    super(`${script}: ${reason}`, [...where, ...logs.slice(-10)]);
  }
}

/** PowerShell parameter names: a letter, then letters and digits. Anything else is refused before sending. */
const PARAM_NAME = /^[A-Za-z][A-Za-z0-9]*$/;

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/**
 * The single line sent to PowerShell for one call. Its variable parts are base64 only, so
 * no quote, space, `$`, backtick or line break in a path, name or password can change
 * what runs: the wrapper decodes them into data, never into code.
 */
export function encodeInvocation(wrapperPath: string, request: ScriptRequest): string {
  for (const name of Object.keys(request.params)) {
    if (!PARAM_NAME.test(name)) throw new Error(`not a PowerShell parameter name: ${JSON.stringify(name)}`);
  }
  const body = JSON.stringify({ id: request.id, script: request.script, params: dropUndefined(request.params) });
  return `& ([System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String('${b64(wrapperPath)}'))) -Request '${b64(body)}'`;
}

const LINE = /^& \(\[System\.Text\.Encoding\]::UTF8\.GetString\(\[System\.Convert\]::FromBase64String\('([A-Za-z0-9+/=]*)'\)\)\) -Request '([A-Za-z0-9+/=]*)'$/;

/** The inverse of encodeInvocation, done the way the wrapper does it (tests and fakes use it). */
export function decodeInvocation(line: string): { wrapperPath: string; request: ScriptRequest } {
  const m = LINE.exec(line);
  if (!m) throw new Error(`not a labctl invocation line: ${line.slice(0, 120)}`);
  const wrapperPath = Buffer.from(m[1]!, 'base64').toString('utf8');
  const request = JSON.parse(Buffer.from(m[2]!, 'base64').toString('utf8')) as ScriptRequest;
  return { wrapperPath, request };
}

/** The wrapper's answer line, as it writes it (for fakes). */
export function frameAnswer(answer: ScriptAnswer): string {
  const payload = Buffer.from(JSON.stringify(answer), 'utf8').toString('base64');
  return `<<labctl:${answer.id}:begin>>${payload}<<labctl:${answer.id}:end>>`;
}

/** Finds this call's answer in everything the session printed; other text is ignored. */
export function parseFramed(output: string, id: string): ScriptAnswer | undefined {
  const begin = `<<labctl:${id}:begin>>`;
  const end = `<<labctl:${id}:end>>`;
  const i = output.lastIndexOf(begin);
  if (i === -1) return undefined;
  const j = output.indexOf(end, i + begin.length);
  if (j === -1) return undefined;
  const payload = output.slice(i + begin.length, j).replace(/\s+/g, '');
  return JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as ScriptAnswer;
}

function dropUndefined(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
}

export function newRequestId(): string {
  return randomBytes(8).toString('hex');
}

/** Resolves a templates-relative script name to the file the host runs. */
export function scriptFile(script: string): string {
  const file = path.isAbsolute(script) ? script : templatePath(script);
  const rel = path.relative(TEMPLATES_DIR, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`script outside templates/: ${script}`);
  return file;
}

/** Turns a wrapper answer into the script's result, or the error it reported. */
export function unwrapAnswer<T>(script: string, answer: ScriptAnswer, onLog?: (line: string) => void): T {
  for (const line of answer.logs ?? []) onLog?.(line);
  if (!answer.ok) {
    throw new PowerShellError(script, answer.error?.message ?? 'failed without a message', answer.error?.position, answer.logs ?? []);
  }
  return answer.result as T;
}

/** Sends one invocation line to a PowerShell session and returns what the session printed. */
export interface LineChannel {
  send(line: string, timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
  /** drop the session (after a timeout or broken framing, its state is unknown) */
  reset(): Promise<void>;
}

/**
 * The runner proper: encodes the call, sends it over a channel, finds the framed answer.
 * The real channel is a node-powershell session; tests plug in a channel that plays the
 * wrapper's part, so everything on this side of PowerShell is exercised as it runs.
 */
export class FramedRunner implements PowerShellRunner {
  /**
   * @param defaultTimeoutMs for calls that name none: a session that never answers (a hung
   * cmdlet, or node-powershell missing its end delimiter) must not hang labctl forever
   */
  constructor(
    private readonly channel: LineChannel,
    private readonly defaultTimeoutMs = 20 * 60_000,
  ) {}

  async invoke<T = unknown>(script: string, params: Record<string, unknown>, opts: InvokeOptions = {}): Promise<T> {
    const request: ScriptRequest = { id: newRequestId(), script: scriptFile(script), params };
    const line = encodeInvocation(scriptFile(WRAPPER), request);
    let out: { stdout: string; stderr: string };
    try {
      out = await this.channel.send(line, opts.timeoutMs ?? this.defaultTimeoutMs);
    } catch (err) {
      await this.channel.reset();
      throw err instanceof OperationError ? err : new OperationError(`${script}: ${errorMessage(err)}`);
    }
    const answer = parseFramed(out.stdout, request.id);
    if (!answer) {
      await this.channel.reset();
      const text = (out.stderr.trim() || out.stdout.trim()).split(/\r?\n/).slice(-10);
      throw new OperationError(`${script}: PowerShell gave no answer`, text);
    }
    return unwrapAnswer<T>(script, answer, (l) => opts.onLog?.(l));
  }

  dispose(): Promise<void> {
    return this.channel.reset();
  }
}

/** The minimal surface of node-powershell's PowerShell class that labctl uses. */
interface ShellLike {
  invoke(command: string): Promise<{ raw: string; stdout?: Buffer; stderr?: Buffer; hadErrors: boolean }>;
  dispose(): Promise<void>;
  streams: { stdin: NodeJS.WritableStream; stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream };
}

type Refable = { ref?: () => void; unref?: () => void };

/**
 * One long-lived Windows PowerShell 5.1 session (node-powershell), started on first use.
 * Calls are queued by node-powershell, one at a time. Between calls the child process and
 * its pipes are unref'd, so a finished command exits without anyone disposing the session.
 */
export class NodePowerShellChannel implements LineChannel {
  private shell: ShellLike | undefined;
  private starting: Promise<ShellLike> | undefined;
  private busy = 0;

  /**
   * @param executable powershell (Windows PowerShell 5.1, the default on a Hyper-V host), pwsh,
   * or a path (LABCTL_POWERSHELL: the tests' simulated host is one)
   * @param env extra environment for the PowerShell process
   */
  constructor(
    private readonly executable = 'powershell',
    private readonly env?: Record<string, string>,
  ) {}

  private async session(): Promise<ShellLike> {
    if (this.shell) return this.shell;
    this.starting ??= (async () => {
      let mod: typeof import('node-powershell');
      try {
        mod = await import('node-powershell');
      } catch (err) {
        throw new PreflightError(`node-powershell cannot be loaded (${errorMessage(err)}): reinstall labctl`);
      }
      try {
        const shell = new mod.PowerShell({
          executable: this.executable as never,
          executableOptions: { '-NoProfile': true, '-NonInteractive': true, '-ExecutionPolicy': 'Bypass' },
          // text on stderr must not fail a call by itself: the framed answer decides
          throwOnInvocationError: false,
          ...(this.env ? { spawnOptions: { env: { ...process.env, ...this.env } } } : {}),
        }) as unknown as ShellLike;
        this.shell = shell;
        return shell;
      } catch (err) {
        throw new PreflightError(`cannot start ${this.executable}.exe (${errorMessage(err)}): the hyperv provider needs Windows PowerShell 5.1`);
      }
    })();
    try {
      return await this.starting;
    } finally {
      this.starting = undefined;
    }
  }

  private setRef(shell: ShellLike, on: boolean): void {
    const handles: Refable[] = [
      (shell as unknown as { process?: Refable }).process ?? {},
      shell.streams.stdin as unknown as Refable,
      shell.streams.stdout as unknown as Refable,
      shell.streams.stderr as unknown as Refable,
    ];
    for (const h of handles) (on ? h.ref : h.unref)?.call(h);
  }

  async send(line: string, timeoutMs?: number): Promise<{ stdout: string; stderr: string }> {
    throwIfInterrupted();
    const shell = await this.session();
    this.busy++;
    this.setRef(shell, true);
    let timer: NodeJS.Timeout | undefined;
    let stopped: (err: Error) => void = () => {};
    // Ctrl-C: the script stops with its PowerShell (a session busy in a script would read an
    // "exit" only after it), and the call fails at once; the next call starts a new session
    const unregister = onInterrupt(() => {
      if (this.shell === shell) this.shell = undefined;
      (shell as unknown as { process?: { kill(): boolean } }).process?.kill();
      stopped(new OperationError('PowerShell stopped: labctl was interrupted'));
    });
    try {
      const call = shell.invoke(line);
      call.catch(() => {}); // a call cut short by a timeout or a kill settles (if ever) unheard
      const result = await Promise.race([
        call,
        new Promise<never>((_, reject) => {
          stopped = reject;
          if (timeoutMs) timer = setTimeout(() => reject(new OperationError(`PowerShell did not answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
        }),
      ]);
      return { stdout: result.stdout?.toString('utf8') ?? result.raw, stderr: result.stderr?.toString('utf8') ?? '' };
    } finally {
      unregister();
      if (timer) clearTimeout(timer);
      this.busy--;
      if (this.busy === 0 && this.shell) this.setRef(this.shell, false);
    }
  }

  async reset(): Promise<void> {
    const shell = this.shell;
    this.shell = undefined;
    if (!shell) return;
    // waiting for the process to exit needs its handles counted again
    this.setRef(shell, true);
    await shell.dispose().catch(() => {});
  }
}

/**
 * Several sessions, each running one call at a time. One session would queue every call
 * behind the longest (a Windows image build takes many minutes), so VM polls would wait,
 * and a queued call's timeout would run out while it had not even started, killing the
 * session and the build with it. Here a call takes an idle session, or starts one, up to
 * `max`; only then do its timeout and its PowerShell run begin.
 */
export class PooledRunner implements PowerShellRunner {
  private readonly idle: PowerShellRunner[] = [];
  private readonly all: PowerShellRunner[] = [];
  private readonly waiting: ((r: PowerShellRunner) => void)[] = [];

  constructor(
    private readonly make: () => PowerShellRunner,
    private readonly max = 4,
  ) {}

  private acquire(): Promise<PowerShellRunner> {
    // oldest first: a session that was just reset (after a timeout) is the last choice
    const free = this.idle.shift();
    if (free) return Promise.resolve(free);
    if (this.all.length < this.max) {
      const r = this.make();
      this.all.push(r);
      return Promise.resolve(r);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(r: PowerShellRunner): void {
    const next = this.waiting.shift();
    if (next) next(r);
    else this.idle.push(r);
  }

  async invoke<T = unknown>(script: string, params: Record<string, unknown>, opts?: InvokeOptions): Promise<T> {
    const r = await this.acquire();
    try {
      return await r.invoke<T>(script, params, opts);
    } finally {
      this.release(r);
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.all.map((r) => r.dispose()));
  }
}

/** The runner labctl uses on a Windows host. */
export function nodePowerShellRunner(executable = 'powershell', sessions = 4, env?: Record<string, string>): PowerShellRunner {
  return new PooledRunner(() => new FramedRunner(new NodePowerShellChannel(executable, env)), sessions);
}

/**
 * Which PowerShell labctl drives: LABCTL_POWERSHELL when set (an executable name or path,
 * e.g. pwsh, or the tests' simulated host), else Windows PowerShell on Windows and none
 * elsewhere.
 */
export function powershellExecutable(platform: NodeJS.Platform = process.platform): string | undefined {
  const chosen = process.env.LABCTL_POWERSHELL?.trim();
  if (chosen) return chosen;
  return platform === 'win32' ? 'powershell' : undefined;
}
