import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { SpecError } from '../util/errors.js';
import { labSpecSchema, type ParsedSpec } from './schema.js';
import type { LabSpec, MachineSpec, RedisSource } from './types.js';
import { checkSemantics } from './semantics.js';
import { PINNED_REDIS_RELEASES } from './redis-releases.js';

/** Reads, parses and validates a spec file; throws SpecError listing every problem found. */
export function loadSpec(file: string): LabSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : String(code ?? err);
    throw new SpecError([`${file}: cannot read the spec: ${why}`]);
  }
  return parseSpec(text, file);
}

export function parseSpec(text: string, file: string): LabSpec {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new SpecError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
        return `${file}:${pos.line}:${pos.col}: YAML syntax error: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  const data: unknown = doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new SpecError([`${file}: the spec must be a YAML mapping with name, network, redis, app and machines`]);
  }
  const semantics = (spec: LabSpec) => checkSemantics(spec).map((p) => `${file}:${p.field}: ${p.message}${lineSuffix(doc, lines, p.field.split('.'))}`);
  const parsed = labSpecSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => formatIssue(file, doc, lines, issue));
    // every problem at once: the checks across fields still run on what the schema accepted
    const rest = salvage(data, text, file);
    throw new SpecError([...problems, ...(rest ? semantics(rest).filter((p) => !problems.includes(p)) : [])]);
  }
  const spec = normalize(parsed.data, text, file);
  const problems = semantics(spec);
  if (problems.length > 0) throw new SpecError(problems);
  return spec;
}

/**
 * The spec without the values the schema refused (each dropped, so its default applies), when
 * that is enough to read the rest: the cross-field checks then report their problems alongside
 * the schema's, instead of after the user fixed those. Undefined when a required value is the
 * broken one.
 */
function salvage(data: object, text: string, file: string): LabSpec | undefined {
  const copy = structuredClone(data) as Record<string, unknown>;
  for (let round = 0; round < 8; round++) {
    const r = labSpecSchema.safeParse(copy);
    if (r.success) {
      try {
        return normalize(r.data, text, file);
      } catch {
        return undefined;
      }
    }
    let dropped = false;
    for (const issue of r.error.issues) {
      const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
      for (const at of keys) dropped = dropAt(copy, at) || dropped;
    }
    if (!dropped) return undefined;
  }
  return undefined;
}

function dropAt(root: Record<string, unknown>, at: PropertyKey[]): boolean {
  if (at.length === 0) return false;
  let node: unknown = root;
  for (const key of at.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return false;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  const last = at[at.length - 1]!;
  if (node === null || typeof node !== 'object' || !(last in node)) return false;
  if (Array.isArray(node)) node.splice(Number(last), 1);
  else delete (node as Record<PropertyKey, unknown>)[last];
  return true;
}

function normalize(raw: ParsedSpec, text: string, file: string): LabSpec {
  const machines: MachineSpec[] = Object.entries(raw.machines).map(([name, m], index) => ({
    name,
    index,
    role: m.role,
    os: m.os,
    ip: m.ip,
    cpus: m.cpus,
    memoryBytes: parseSize(m.memory),
    diskBytes: parseSize(m.disk),
  }));
  return {
    file: path.resolve(file),
    hash: createHash('sha256').update(text).digest('hex'),
    name: raw.name,
    provider: raw.provider,
    // filled in by checkSemantics once the subnet is known to be valid
    network: { subnet: undefined as never, cidr: raw.network.subnet, prefix: 0, gateway: '', nat: raw.network.nat },
    redis: {
      version: raw.redis.version,
      port: raw.redis.port,
      channel: raw.redis.channel,
      backplane: raw.redis.backplane,
      source: normalizeSource(raw.redis.source, raw.redis.version, file),
      topology: raw.redis.topology,
      masters: raw.redis.masters ?? 3,
      replicasPerMaster: raw.redis.replicasPerMaster ?? 0,
    },
    app: { port: raw.app.port, rateLimit: raw.app.rateLimit },
    machines,
    hyperv: raw.hyperv && normalizeHyperv(raw.hyperv, file),
    raw,
  };
}

function normalizeSource(source: ParsedSpec['redis']['source'], version: string, file: string): RedisSource {
  if (source === 'auto' || source === 'distro') return { kind: source };
  if (source === 'url') {
    const pinned = PINNED_REDIS_RELEASES[version];
    // an unknown version is reported by checkSemantics; keep the shape total here
    return { kind: 'url', url: pinned?.url ?? '', sha256: pinned?.sha256 ?? '', pinned: true };
  }
  if ('url' in source) return { kind: 'url', url: source.url, sha256: source.sha256.toLowerCase(), pinned: false };
  return {
    kind: 'tarball',
    path: path.resolve(path.dirname(path.resolve(file)), source.tarball),
    sha256: source.sha256?.toLowerCase(),
  };
}

/** Installer files are local paths of the host labctl runs on: relative ones are taken from the spec file's folder. */
function normalizeHyperv(h: NonNullable<ParsedSpec['hyperv']>, file: string): NonNullable<ParsedSpec['hyperv']> {
  if (!h.installers) return h;
  const dir = path.dirname(path.resolve(file));
  const installers = Object.fromEntries(
    Object.entries(h.installers).map(([id, i]) => [id, i && { ...i, sha256: i.sha256.toLowerCase(), ...(i.file !== undefined ? { file: path.resolve(dir, i.file) } : {}) }]),
  );
  return { ...h, installers };
}

const UNITS: Record<string, number> = { MB: 2 ** 20, GB: 2 ** 30, TB: 2 ** 40 };
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(MB|GB|TB)$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  return Math.round(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
}

type Issue = z.core.$ZodIssue;

function formatIssue(file: string, doc: Document, lines: LineCounter, issue: Issue): string {
  const at = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((key) => {
        const field = [...at, key].join('.');
        const allowed = allowedKeys(at);
        const hint = allowed.length > 0 ? ` (allowed here: ${allowed.join(', ')})` : '';
        return `${file}:${field}: unknown key${hint}${lineSuffix(doc, lines, [...at, key])}`;
      })
      .join('\n');
  }
  const field = at.length > 0 ? at.join('.') : '(top level)';
  return `${file}:${field}: ${describeIssue(doc, issue)}${lineSuffix(doc, lines, at)}`;
}

function describeIssue(doc: Document, issue: Issue): string {
  const value = doc.getIn(issue.path as (string | number)[]);
  const got = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return 'is required';
      return `must be ${article(issue.expected)}${got}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}${got}`;
    case 'too_small':
      return `must be at least ${String(issue.minimum)}${got}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}${got}`;
    case 'invalid_union':
      if (issue.path.join('.') === 'redis.source') {
        return `must be auto, distro, url, {url: ..., sha256: ...} or {tarball: FILE, sha256: ...}${got}`;
      }
      return `has an invalid value${got}`;
    case 'invalid_format':
      return issue.format === 'url' ? `must be an http(s) URL${got}` : `${issue.message}${got}`;
    case 'custom':
      // a rule over a whole mapping (hyperv.installers.<id>): its message says what is wrong, the mapping is on its line
      return isMap(value) ? issue.message : `${issue.message}${got}`;
    default:
      return `${issue.message}${got}`;
  }
}

function article(expected: string): string {
  if (expected === 'int') return 'a whole number';
  if (expected === 'object' || expected === 'record') return 'a mapping';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/** The keys the schema accepts at a path, to suggest them next to an unknown key. */
function allowedKeys(at: string[]): string[] {
  let node: unknown = labSpecSchema;
  for (const part of at) {
    node = unwrap(node);
    const def = (node as { def?: { type?: string; shape?: Record<string, unknown>; valueType?: unknown } }).def;
    if (def?.type === 'object') node = def.shape?.[part];
    else if (def?.type === 'record') node = def.valueType;
    else return [];
  }
  node = unwrap(node);
  const def = (node as { def?: { type?: string; shape?: Record<string, unknown> } } | undefined)?.def;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

function unwrap(node: unknown): unknown {
  let current = node as { def?: { type?: string; innerType?: unknown } } | undefined;
  while (current?.def && ['default', 'optional', 'prefault', 'nullable'].includes(current.def.type ?? '')) {
    current = current.def.innerType as typeof current;
  }
  return current;
}

function lineSuffix(doc: Document, lines: LineCounter, at: string[]): string {
  const offset = findOffset(doc, at);
  return offset === undefined ? '' : ` (line ${lines.linePos(offset).line})`;
}

function findOffset(doc: Document, at: string[]): number | undefined {
  // Prefer the key's position: for "machines.web1.ip" point at "ip:", not at the value's line end
  for (let depth = at.length; depth >= 1; depth--) {
    const parent = depth === 1 ? doc.contents : doc.getIn(at.slice(0, depth - 1), true);
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === at[depth - 1]);
      if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
    }
  }
  return undefined;
}
