#!/usr/bin/env node
// The Windows-Node suite: test/windows/*.test.ts run by Node.js for Windows (node.exe of the same
// version as this node) under Wine. Installed by scripts/install-windows-node.sh; see
// docs/windows-node.md for what it proves and what Wine cannot.
//   1. dist/ is brought up to date if src/ changed since (bin/labctl runs dist/)
//   2. tsc -p tsconfig.windows-tests.json: test/windows and the src/ it imports into .build/windows
//      (tsx cannot run under Wine: esbuild's Windows binary is not installed), templates/ beside it
//   3. Linux Node computes the reference sha256 of the seed ISO from the same compiled code
//   4. wine64 node.exe --test with the TAP reporter writing to a file, stdout and stderr to files
//      (Node's stdio on a Unix pipe fails under Wine)
//   5. prints the TAP summary; exits non-zero on any failure, and when nothing ran
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const INSTALL = 'bash scripts/install-windows-node.sh';
const OUT = '.build/windows';
const PREFIX = path.join(root, '.tools/wine-prefix');
const NODE_EXE = '.tools/node-win/node.exe';
const started = Date.now();
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const say = (line) => console.log(`test-windows-node: ${line}`);

function fail(line, code = 1) {
  console.error(`test-windows-node: ${line}`);
  process.exit(code);
}

// ---------------------------------------------------------------- what must be installed
const dpkg = spawnSync('dpkg', ['-L', 'wine64'], { encoding: 'utf8' });
const wine = dpkg.status === 0 ? dpkg.stdout.split('\n').find((l) => /\/wine64$/.test(l)) : undefined;
if (!wine || !existsSync(wine)) fail(`wine64 is missing (Debian package wine64): run ${INSTALL} as root`, 2);
const version = process.versions.node;
const installed = existsSync(NODE_EXE) && existsSync('.tools/node-win/VERSION') ? readFileSync('.tools/node-win/VERSION', 'utf8').trim() : undefined;
if (installed !== version) {
  fail(`Node.js for Windows ${version} is missing from .tools/node-win (found ${installed ?? 'none'}): run ${INSTALL}`, 2);
}
if (!existsSync(path.join(PREFIX, 'user.reg'))) fail(`the Wine prefix .tools/wine-prefix is missing: run ${INSTALL}`, 2);

function tsc(project) {
  const t = Date.now();
  const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', project], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stdout + r.stderr);
    fail(`tsc -p ${project} failed (exit ${r.status})`);
  }
  return Date.now() - t;
}

// ---------------------------------------------------------------- 1. dist/ for bin/labctl
function staleDist() {
  if (!existsSync('dist/cli/main.js')) return ['cli/main.ts (not built)'];
  const stale = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      const rel = path.relative('src', full);
      if (e.isDirectory()) {
        if (rel !== 'app') walk(full); // bundled by esbuild, not by tsc
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const built = path.join('dist', rel.replace(/\.ts$/, '.js'));
        if (!existsSync(built) || statSync(built).mtimeMs + 1 < statSync(full).mtimeMs) stale.push(rel);
      }
    }
  };
  walk('src');
  return stale;
}
const stale = staleDist();
if (stale.length > 0) say(`dist/ is older than src/ (${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', ...' : ''}): tsc -p tsconfig.json in ${secs(tsc('tsconfig.json'))}`);

// ---------------------------------------------------------------- 2. the suite, compiled
rmSync(OUT, { recursive: true, force: true });
const compileMs = tsc('tsconfig.windows-tests.json');
// the compiled src/util/template.js looks for templates/ two folders up, as dist/util/template.js does
cpSync('templates', path.join(OUT, 'templates'), { recursive: true });
const testDir = path.join(OUT, 'test/windows');
const files = readdirSync(testDir)
  .filter((f) => f.endsWith('.test.js'))
  .sort()
  .map((f) => `${testDir}/${f}`);
if (files.length === 0) fail(`no test file in ${testDir}`);
say(`compiled test/windows (${files.length} test files) into ${OUT} in ${secs(compileMs)}`);

// ---------------------------------------------------------------- 3. the Linux reference
const fixture = await import(pathToFileURL(path.join(root, testDir, 'seed-fixture.js')).href);
const linuxSeedSha = fixture.sha256(fixture.seedIso());
say(`seed ISO sha256 on Linux Node ${process.version}: ${linuxSeedSha}`);

// ---------------------------------------------------------------- 4. node.exe under Wine
const tap = path.join(OUT, 'results.tap');
const stdoutFile = path.join(OUT, 'node-win.stdout');
const stderrFile = path.join(OUT, 'node-win.stderr');
const env = { ...process.env, WINEPREFIX: PREFIX, WINEDEBUG: '-all', NODE_SKIP_PLATFORM_CHECK: '1', LABCTL_LINUX_SEED_SHA256: linuxSeedSha };
for (const k of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'LABCTL_HOME']) delete env[k];
const out = openSync(stdoutFile, 'w');
const err = openSync(stderrFile, 'w');
const runStarted = Date.now();
const child = spawn(wine, [NODE_EXE, '--test', '--test-concurrency=2', '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files], {
  env,
  stdio: ['ignore', out, err],
});
closeSync(out);
closeSync(err);
const TIMEOUT_MS = 300_000;
let timedOut = false;
const timer = setTimeout(() => {
  timedOut = true;
  child.kill('SIGKILL');
  // node.exe's own children run under this prefix's wineserver: end them with it
  spawnSync(path.join(path.dirname(wine), 'wineserver64'), ['-k'], { env });
}, TIMEOUT_MS);
const code = await new Promise((resolve) => child.once('exit', (c, signal) => resolve(c ?? signal)));
clearTimeout(timer);
const runMs = Date.now() - runStarted;

// ---------------------------------------------------------------- 5. results
const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
const lines = text.split('\n');
const count = (name) => {
  const m = lines.map((l) => new RegExp(`^# ${name} (\\d+)$`).exec(l)).filter(Boolean).at(-1);
  return m ? Number(m[1]) : undefined;
};
// what test files printed outside their tests (a crash before the first test lands here)
const SUMMARY = /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /;
const printed = lines.filter((l) => /^\s*# /.test(l) && !/^\s*# Subtest: /.test(l) && !SUMMARY.test(l));
if (printed.length > 0) console.log(printed.join('\n'));
// each failure with its diagnostics (the indented YAML block after "not ok")
for (let i = 0; i < lines.length; i++) {
  if (!/^\s*not ok /.test(lines[i])) continue;
  const indent = /^\s*/.exec(lines[i])[0].length;
  const block = [lines[i]];
  for (let j = i + 1; j < lines.length && (lines[j].startsWith(' '.repeat(indent + 2)) || lines[j] === ''); j++) block.push(lines[j]);
  console.log(block.join('\n').trimEnd());
}
const summary = { tests: count('tests'), pass: count('pass'), fail: count('fail'), cancelled: count('cancelled'), skipped: count('skipped') };
for (const [k, v] of Object.entries(summary)) console.log(`# ${k} ${v ?? '?'}`);
say(`Node.js for Windows ${version} under Wine ran ${files.length} files in ${secs(runMs)} (whole script ${secs(Date.now() - started)})`);

const problems = [];
if (timedOut) problems.push(`node.exe did not finish in ${secs(TIMEOUT_MS)}: killed`);
if (summary.tests === undefined) problems.push(`no TAP summary in ${tap}`);
else if (summary.tests === 0) problems.push('no test ran');
if ((summary.fail ?? 0) > 0 || (summary.cancelled ?? 0) > 0) problems.push(`${summary.fail} failed, ${summary.cancelled} cancelled`);
if (code !== 0) problems.push(`node.exe exited ${code}`);
if (problems.length > 0) {
  const stderr = existsSync(stderrFile) ? readFileSync(stderrFile, 'utf8').trim() : '';
  if (stderr) console.error(`--- node.exe stderr (${stderrFile})\n${stderr.split('\n').slice(-40).join('\n')}`);
  fail(`FAILED: ${problems.join('; ')} (full TAP in ${tap})`);
}
console.log(`windows-node: ${summary.pass} passed, ${summary.fail} failed`);
