/**
 * Windows PowerShell 5.1. A Hyper-V host runs labctl's scripts in Windows PowerShell 5.1
 * (powershell.exe, part of Windows): labctl keeps targeting it and does not require
 * PowerShell 7 on the host (nothing to install, and 5.1 is what every Hyper-V host has). The
 * simulated host runs the scripts in PowerShell 7, which accepts more than 5.1 does, so this
 * test reads every template's syntax tree with PowerShell's own parser (ps-ast.ps1) and
 * refuses what 5.1 lacks:
 *
 * - syntax added in PowerShell 7: ternary `a ? b : c`, `??` and `??=`, pipeline chains `&&`
 *   and `||`, null-conditional `${a}?.b` and `${a}?[0]`, `clean {}` blocks, the background
 *   operator `cmd &`, `-replace` with a script block;
 * - cmdlets documented only for PowerShell 7 (the cmdlet reference's `versions` field, read
 *   from Microsoft's PowerShell-Docs: Join-String, Get-Error, Test-Json, ...);
 * - parameters PowerShell 7 added to cmdlets 5.1 has (the reference does not list those, so
 *   they are named here: ForEach-Object -Parallel, ConvertFrom-Json -AsHashtable/-Depth,
 *   ConvertTo-Json -AsArray, Invoke-WebRequest/-RestMethod -SkipCertificateCheck/-Form, ...);
 * - .NET members that .NET Framework 4.x (under 5.1) lacks: File.Move with an overwrite
 *   argument, Path.GetRelativePath/Join, Convert.ToHexString, RandomNumberGenerator.Fill/GetInt32.
 *
 * The checker itself is tested on a sample that has each construct once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { REPO } from './host.js';
// @ts-expect-error: a plain .mjs script with no types
import { DECLARED_CMDLETS } from './generate.mjs';
import { readAst, templateScripts, type AstFacts } from './ps-ast.js';

interface CmdletInfo {
  versions?: string[];
  parameterSets?: string[][];
}
const referenceData: { cmdlets: Record<string, CmdletInfo> } = JSON.parse(readFileSync(path.join(REPO, 'test/fixtures/powershell-cmdlets.json'), 'utf8'));
// with the cmdlets generate.mjs declares from their docs pages (LocalAccounts)
const reference = { cmdlets: { ...referenceData.cmdlets, ...(DECLARED_CMDLETS as Record<string, CmdletInfo>) } };
const byLower = new Map(Object.entries(reference.cmdlets).map(([n, c]) => [n.toLowerCase(), { name: n, info: c }]));

/** Parameters PowerShell 7 added to cmdlets that Windows PowerShell 5.1 has (about_* and cmdlet "What's new" pages of PowerShell-Docs). */
const PS7_PARAMETERS: Record<string, string[]> = {
  'foreach-object': ['parallel', 'throttlelimit', 'timeoutseconds', 'asjob', 'usenewrunspace'],
  'convertfrom-json': ['ashashtable', 'depth', 'noenumerate', 'datekind'],
  'convertto-json': ['asarray', 'enumsasstrings', 'escapehandling'],
  'invoke-webrequest': ['skipcertificatecheck', 'form', 'resume', 'sslprotocol', 'authentication', 'token', 'maximumretrycount', 'retryintervalsec', 'skiphttperrorcheck', 'skipheadervalidation', 'connectiontimeoutseconds', 'operationtimeoutseconds', 'statuscodevariable', 'responseheadersvariable', 'allowunencryptedauthentication', 'preserveauthorizationonredirect', 'custommethod', 'nodefaults'],
  'invoke-restmethod': ['skipcertificatecheck', 'form', 'resume', 'sslprotocol', 'authentication', 'token', 'maximumretrycount', 'retryintervalsec', 'skiphttperrorcheck', 'skipheadervalidation', 'connectiontimeoutseconds', 'operationtimeoutseconds', 'statuscodevariable', 'responseheadersvariable', 'allowunencryptedauthentication', 'preserveauthorizationonredirect', 'custommethod', 'followrellink', 'maximumfollowrellink'],
  'get-content': ['asbytestream'],
  'set-content': ['asbytestream'],
  'add-content': ['asbytestream'],
  'split-path': ['leafbase', 'extension'],
  'join-path': ['additionalchildpath'],
  'select-object': ['skipindex', 'casesensitive'],
  'sort-object': ['top', 'bottom', 'stable'],
  'get-date': ['asutc', 'unixtimeseconds'],
  'test-connection': ['targetname', 'tcpport', 'ping', 'repeat', 'mtusize', 'traceroute', 'ipv4', 'ipv6', 'resolvedestination'],
  'new-pssession': ['hostname', 'sshtransport', 'usewindowspowershell', 'keyfilepath', 'subsystem', 'sshconnection', 'options'],
  'invoke-command': ['hostname', 'sshtransport', 'sshconnection', 'keyfilepath', 'subsystem', 'options'],
  'start-process': ['environment'],
};
const PS7_COMMON = ['progressaction'];
const ALIASES: Record<string, string> = { '%': 'foreach-object', foreach: 'foreach-object', select: 'select-object', sort: 'sort-object', iwr: 'invoke-webrequest', irm: 'invoke-restmethod', gc: 'get-content' };

/** .NET members .NET Framework 4.8 lacks (they came with .NET Core): type (without "System.") -> member -> argument counts (empty: any). */
const NETCORE_ONLY: Record<string, Record<string, number[]>> = {
  'io.file': { move: [3] },
  'io.path': { getrelativepath: [], join: [], trimendingdirectoryseparator: [], endsindirectoryseparator: [] },
  convert: { tohexstring: [], fromhexstring: [] },
  'security.cryptography.randomnumbergenerator': { fill: [], getint32: [], getbytes: [1] },
  string: { create: [] },
};

/** What Windows PowerShell 5.1 would not run in one file, one line each. */
export function ps51Problems(f: AstFacts): string[] {
  const rel = path.relative(REPO, f.file);
  const out: string[] = [];
  for (const s of f.syntax) out.push(`${rel}:${s.line}: ${s.kind} (PowerShell 7 only): ${s.text}`);
  const functions = new Set(f.functions.map((x) => x.toLowerCase()));
  for (const c of f.commands) {
    const lower = ALIASES[c.name.toLowerCase()] ?? c.name.toLowerCase();
    if (functions.has(lower)) continue;
    const known = byLower.get(lower);
    if (known?.info.versions && !known.info.versions.includes('5.1')) out.push(`${rel}:${c.line}: ${known.name} is a PowerShell 7 cmdlet`);
    // the parameter a name means: itself, or the one parameter it is a prefix of (PowerShell
    // accepts unique prefixes), among all the cmdlet's parameters (PowerShell 7's included)
    const all = new Set([...(known?.info.parameterSets ?? []).flat().map((x) => x.toLowerCase()), ...(PS7_PARAMETERS[lower] ?? [])]);
    for (const p of c.params) {
      const pl = p.toLowerCase();
      const starts = [...all].filter((x) => x.startsWith(pl));
      const meant = all.has(pl) ? pl : starts.length === 1 ? starts[0]! : pl;
      if (PS7_PARAMETERS[lower]?.includes(meant) || PS7_COMMON.includes(meant)) out.push(`${rel}:${c.line}: ${known?.name ?? c.name} -${p} exists in PowerShell 7 only`);
    }
  }
  for (const m of f.members) {
    const type = m.type.toLowerCase().replace(/^system\./, '');
    if (type.startsWith('text.json')) out.push(`${rel}:${m.line}: [${m.type}] is .NET Core only`);
    const counts = NETCORE_ONLY[type]?.[m.member.toLowerCase()];
    if (counts && (counts.length === 0 || counts.includes(m.args))) out.push(`${rel}:${m.line}: [${m.type}]::${m.member} with ${m.args} argument(s) is not in .NET Framework 4.x (Windows PowerShell 5.1)`);
  }
  return out;
}

test('no template uses syntax, cmdlets, parameters or .NET members that Windows PowerShell 5.1 lacks', () => {
  const facts = readAst(templateScripts());
  const problems = facts.flatMap(ps51Problems);
  assert.deepEqual(problems, []);
});

test('the 5.1 check finds each PowerShell 7 construct in a sample', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-ps51-'));
  try {
    const sample = path.join(dir, 'sample.ps1');
    writeFileSync(
      sample,
      [
        '$a = $x ? 1 : 2',
        "$b = $x ?? 'default'",
        '$c ??= 3',
        'Get-Item . && Write-Output ok',
        'Get-Item . || Write-Output failed',
        '$d = ${obj}?.Name',
        '$e = ${arr}?[0]',
        'function F { process { $_ } clean { "done" } }',
        '1..3 | ForEach-Object -Parallel { $_ }',
        "$h = '{}' | ConvertFrom-Json -AsHashtable",
        "$j = '{}' | ConvertFrom-Json -Depth 5",
        'ConvertTo-Json -InputObject @(1) -AsArray',
        "'a', 'b' | Join-String -Separator ','",
        'Get-Error',
        "Test-Json -Json '{}'",
        "[System.IO.File]::Move('a', 'b', $true)",
        "[IO.File]::Move('a', 'b')",
        'Invoke-WebRequest -Uri https://example.test -SkipCertificateCheck',
        'Invoke-RestMethod -Uri https://example.test -Form @{ a = 1 }',
        'Start-Sleep 1 &',
        "'abc' -replace 'b', { 'B' }",
        'Split-Path -Path a\\b.txt -LeafBase',
        '1..2 | % -Parallel { $_ }',
        '',
      ].join('\n'),
    );
    const [f] = readAst([sample]);
    assert.deepEqual(f!.errors, [], 'PowerShell 7 parses all of it');
    const found = ps51Problems(f!);
    const expect: [number, RegExp][] = [
      [1, /ternary/],
      [2, /null-coalescing \?\?/],
      [3, /null-coalescing assignment/],
      [4, /pipeline chain &&/],
      [5, /pipeline chain \|\|/],
      [6, /null-conditional member/],
      [7, /null-conditional index/],
      [8, /clean block/],
      [9, /ForEach-Object -Parallel/],
      [10, /ConvertFrom-Json -AsHashtable/],
      [11, /ConvertFrom-Json -Depth/],
      [12, /ConvertTo-Json -AsArray/],
      [13, /Join-String is a PowerShell 7 cmdlet/],
      [14, /Get-Error is a PowerShell 7 cmdlet/],
      [15, /Test-Json is a PowerShell 7 cmdlet/],
      [16, /\[System\.IO\.File\]::Move with 3 argument/],
      [18, /Invoke-WebRequest -SkipCertificateCheck/],
      [19, /Invoke-RestMethod -Form/],
      [20, /background operator/],
      [21, /-replace with a script block/],
      [22, /Split-Path -LeafBase/],
      [23, /ForEach-Object -Parallel/],
    ];
    for (const [line, re] of expect) {
      assert.ok(
        found.some((p) => p.includes(`sample.ps1:${line}:`) && re.test(p)),
        `line ${line} (${re}) not reported; found:\n${found.join('\n')}`,
      );
    }
    assert.ok(!found.some((p) => p.includes('sample.ps1:17:')), '[IO.File]::Move with two arguments is fine in 5.1');
    assert.equal(found.length, expect.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
