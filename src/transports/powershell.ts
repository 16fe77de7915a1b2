import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { OperationError, errorMessage } from '../util/errors.js';
import { PowerShellSession } from './powershell-session.js';
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
 * The real channel is a PowerShell process (powershell-session.ts); tests plug in a channel that plays the
 * wrapper's part, so everything on this side of PowerShell is exercised as it runs.
 */
export class FramedRunner implements PowerShellRunner {
  /**
   * @param defaultTimeoutMs for calls that name none: a session that never answers (a hung
   * cmdlet) must not hang labctl forever
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

/** The runner labctl uses on a Windows host: up to `sessions` PowerShell processes. */
export function powerShellRunner(executable = 'powershell', sessions = 4, env?: Record<string, string>): PowerShellRunner {
  return new PooledRunner(() => new FramedRunner(new PowerShellSession(executable, env)), sessions);
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
