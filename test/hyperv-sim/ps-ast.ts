/**
 * PowerShell's own parser over files (test/hyperv-sim/ps-ast.ps1 in real PowerShell 7): parse
 * errors, PowerShell-7-only syntax, commands with their named parameters, static .NET calls.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PWSH, REPO, requirePwsh } from './host.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface AstFacts {
  file: string;
  errors: { line: number; message: string }[];
  syntax: { kind: string; line: number; text: string }[];
  functions: string[];
  commands: { name: string; params: string[]; line: number }[];
  members: { type: string; member: string; args: number; line: number }[];
}

export function readAst(files: string[]): AstFacts[] {
  requirePwsh();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-ast-'));
  try {
    const list = path.join(dir, 'files.txt');
    writeFileSync(list, files.join('\n') + '\n');
    const out = execFileSync(PWSH, ['-NoLogo', '-NoProfile', '-NonInteractive', '-File', path.join(here, 'ps-ast.ps1'), '-ListFile', list], {
      encoding: 'utf8',
      maxBuffer: 64 * 2 ** 20,
    });
    const parsed = JSON.parse(out) as AstFacts | AstFacts[];
    return Array.isArray(parsed) ? parsed : [parsed];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every .ps1 under templates/. */
export function templateScripts(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const f = path.join(d, e);
      if (statSync(f).isDirectory()) walk(f);
      else if (e.endsWith('.ps1')) out.push(f);
    }
  };
  walk(path.join(REPO, 'templates'));
  return out.sort();
}
