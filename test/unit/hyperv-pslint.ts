/**
 * PowerShell checks that run without PowerShell: tree-sitter-powershell parses a script
 * (no ERROR or MISSING node allowed), then every Verb-Noun command is looked up in the
 * cmdlet reference (test/fixtures/powershell-cmdlets.json, copied from
 * shared/data/powershell-cmdlets.json) and every -Parameter it is given must be one of that
 * cmdlet's parameters (or a common parameter), all in one parameter set.
 *
 * Extra rules for Windows PowerShell 5.1, which labctl targets: no cmdlet documented only
 * for PowerShell 7, no parameter known to be 7-only, and no "$name:" in a double-quoted
 * string (5.1 reads it as a drive-qualified variable and fails to parse).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Language, Parser, type Node } from 'web-tree-sitter';
// @ts-expect-error: a plain .mjs script with no types
import { DECLARED_CMDLETS } from '../hyperv-sim/generate.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

interface CmdletInfo {
  parameterSets: string[][];
  otherDocumentedParameters?: string[];
  parameterAliases?: Record<string, string[]>;
  versions?: string[];
}
interface CmdletData {
  commonParameters: string[];
  commonParameterAliases: Record<string, string[]>;
  cmdlets: Record<string, CmdletInfo>;
}

const referenceData: CmdletData = JSON.parse(readFileSync(path.join(root, 'test/fixtures/powershell-cmdlets.json'), 'utf8'));
/** the reference, and the cmdlets declared by hand from their docs pages where it has none (generate.mjs) */
export const cmdletData: CmdletData = { ...referenceData, cmdlets: { ...referenceData.cmdlets, ...(DECLARED_CMDLETS as Record<string, CmdletInfo>) } };
const byLower = new Map(Object.entries(cmdletData.cmdlets).map(([name, info]) => [name.toLowerCase(), { name, info }]));

/** Parameters that exist in PowerShell 7 only, though their cmdlet is also in 5.1. */
const PS7_ONLY: Record<string, string[]> = {
  'convertfrom-json': ['ashashtable', 'depth', 'datekind', 'noenumerate'],
  'convertto-json': ['asarray', 'enumsasstrings', 'escapehandling'],
  'get-content': ['asbytestream'],
  'set-content': ['asbytestream'],
  'add-content': ['asbytestream'],
  'invoke-webrequest': ['skipcertificatecheck', 'resume', 'maximumretrycount', 'retryintervalsec', 'skiphttperrorcheck', 'connectiontimeoutseconds', 'operationtimeoutseconds'],
  'test-connection': ['targetname', 'tcpport'],
  'foreach-object': ['parallel', 'throttlelimit', 'timeoutseconds', 'asjob', 'usenewrunspace'],
  'new-pssession': ['usewindowspowershell', 'hostname', 'sshtransport'],
  'invoke-command': ['hostname', 'sshtransport', 'sshconnection'],
  'select-object': ['skipindex', 'casesensitive'],
  'sort-object': ['top', 'bottom', 'stable'],
};
const PS7_ONLY_COMMON = ['progressaction', 'proga'];

let parser: Parser | undefined;
export async function psParser(): Promise<Parser> {
  if (parser) return parser;
  await Parser.init();
  const lang = await Language.load(path.join(root, 'node_modules/tree-sitter-powershell/tree-sitter-powershell.wasm'));
  parser = new Parser();
  parser.setLanguage(lang);
  return parser;
}

export interface CommandUse {
  name: string;
  params: string[];
  line: number;
}

function walk(node: Node, visit: (n: Node) => void): void {
  visit(node);
  for (const child of node.children) if (child) walk(child, visit);
}

/** Problems found in one script's text; [] when clean. */
export async function lintPowerShell(text: string, label: string): Promise<{ problems: string[]; commands: CommandUse[] }> {
  const p = await psParser();
  const tree = p.parse(text);
  if (!tree) return { problems: [`${label}: could not be parsed`], commands: [] };
  const problems: string[] = [];
  const commands: CommandUse[] = [];
  const functions = new Set<string>();
  walk(tree.rootNode, (n) => {
    if (n.isError || n.isMissing) {
      problems.push(`${label}:${n.startPosition.row + 1}:${n.startPosition.column + 1}: syntax error near ${JSON.stringify(n.text.slice(0, 40))}`);
    }
    if (n.type === 'function_statement') {
      const name = n.children.find((c) => c?.type === 'function_name');
      if (name) functions.add(name.text.toLowerCase());
    }
    if (n.type === 'expandable_string_literal') {
      for (const m of n.text.matchAll(/(?<![`$])\$([A-Za-z_][A-Za-z0-9_]*):(?![A-Za-z0-9_{\\])/g)) {
        if (!['env', 'global', 'script', 'local', 'private', 'using', 'variable', 'function'].includes(m[1]!.toLowerCase())) {
          problems.push(`${label}:${n.startPosition.row + 1}: "$${m[1]}:" in a double-quoted string is a drive-qualified name to PowerShell: write \${${m[1]}}:`);
        }
      }
    }
    if (n.type === 'command') {
      if (n.children.some((c) => c?.type === 'command_invokation_operator')) return;
      const nameNode = n.childForFieldName('command_name');
      if (!nameNode || nameNode.type !== 'command_name') return;
      const elements = n.childForFieldName('command_elements');
      const params: string[] = [];
      if (elements) {
        for (const c of elements.children) {
          if (c?.type === 'command_parameter') params.push(c.text.replace(/^-/, '').replace(/:.*$/s, ''));
        }
      }
      commands.push({ name: nameNode.text, params, line: n.startPosition.row + 1 });
    }
  });
  for (const c of commands) {
    if (!/^[A-Za-z]+-[A-Za-z0-9]+$/.test(c.name)) continue; // native programs (bcdboot.exe) and keywords
    if (functions.has(c.name.toLowerCase())) continue;
    const found = byLower.get(c.name.toLowerCase());
    if (!found) {
      problems.push(`${label}:${c.line}: ${c.name} is not a cmdlet in the reference data`);
      continue;
    }
    const { name, info } = found;
    if (info.versions && !info.versions.includes('5.1')) problems.push(`${label}:${c.line}: ${name} does not exist in Windows PowerShell 5.1`);
    const canonical = new Map<string, string>();
    const all = new Set<string>();
    for (const set of info.parameterSets) for (const p of set) all.add(p);
    for (const p of info.otherDocumentedParameters ?? []) all.add(p);
    for (const p of all) canonical.set(p.toLowerCase(), p);
    for (const [p, aliases] of Object.entries(info.parameterAliases ?? {})) for (const a of aliases) canonical.set(a.toLowerCase(), p);
    const common = new Set<string>();
    for (const p of cmdletData.commonParameters) common.add(p.toLowerCase());
    for (const aliases of Object.values(cmdletData.commonParameterAliases)) for (const a of aliases) common.add(a.toLowerCase());
    const used: string[] = [];
    for (const raw of c.params) {
      const lower = raw.toLowerCase();
      if (PS7_ONLY[name.toLowerCase()]?.includes(lower) || PS7_ONLY_COMMON.includes(lower)) {
        problems.push(`${label}:${c.line}: ${name} -${raw} exists only in PowerShell 7`);
      }
      if (canonical.has(lower)) used.push(canonical.get(lower)!);
      else if (!common.has(lower)) problems.push(`${label}:${c.line}: ${name} has no parameter -${raw}`);
    }
    const distinct = [...new Set(used)];
    if (distinct.length > 1 && info.parameterSets.length > 0) {
      const fits = info.parameterSets.some((set) => distinct.every((p) => set.includes(p) || (info.otherDocumentedParameters ?? []).includes(p)));
      if (!fits) problems.push(`${label}:${c.line}: ${name} -${distinct.join(' -')}: no parameter set takes these together`);
    }
  }
  return { problems, commands };
}
