#!/usr/bin/env node
// Bundles the chat app (src/app) into dist/app:
//   server.cjs      Node >= 18, CommonJS (iisnode loads its entry with require()), socket.io, the Redis
//                   adapter and ioredis inside, so a web node needs Node and nothing else
//   public/         index.html, app.js (browser, socket.io-client inside), app.css
//   package.json    {"type":"commonjs"}, so the entry stays CommonJS even if a deploy renames it to .js
// Any esbuild error or warning, or a require() of something that is not a Node built-in, fails the
// build: a bundle that needs `npm install` on the node would only fail later, on the node.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const srcDir = path.join(root, 'src', 'app');
const outDir = path.join(root, 'dist', 'app');
const publicDir = path.join(outDir, 'public');

// Optional packages that libraries require inside try/catch, with a fallback: ws's native add-ons
// (JavaScript fallback) and debug's colour detection (plain output). Resolving them to a module that
// throws makes the fallback certain, whatever happens to be installed on a node.
const OPTIONAL_NATIVE = ['bufferutil', 'utf-8-validate', 'supports-color'];
const optionalNative = {
  name: 'optional-native',
  setup(b) {
    const filter = new RegExp(`^(${OPTIONAL_NATIVE.join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'optional-native' }));
    b.onLoad({ filter: /.*/, namespace: 'optional-native' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not bundled`)});`,
      loader: 'js',
    }));
  },
};

const BROWSERS = ['es2020', 'chrome90', 'edge90', 'firefox90', 'safari15'];
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

const common = { bundle: true, write: false, metafile: true, logLevel: 'silent', absWorkingDir: root };

const jobs = {
  server: {
    ...common,
    entryPoints: [path.join(srcDir, 'server.ts')],
    outfile: path.join(outDir, 'server.cjs'),
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    // Whitespace and syntax only: identifiers stay readable in the stack traces iisnode logs.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'eof',
    plugins: [optionalNative],
  },
  page: {
    ...common,
    entryPoints: [path.join(srcDir, 'page', 'app.ts')],
    outfile: path.join(publicDir, 'app.js'),
    platform: 'browser',
    format: 'iife',
    target: BROWSERS,
    minify: true,
    legalComments: 'eof',
  },
  style: {
    ...common,
    entryPoints: [path.join(srcDir, 'page', 'app.css')],
    outfile: path.join(publicDir, 'app.css'),
    target: BROWSERS,
    minify: true,
  },
};

function fail(lines) {
  process.stderr.write(`bundle-app: build failed\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
  process.exit(1);
}

function describe(message) {
  const where = message.location ? `${message.location.file}:${message.location.line}: ` : '';
  return `${where}${message.text}`;
}

const results = {};
const problems = [];
await Promise.all(
  Object.entries(jobs).map(async ([name, options]) => {
    try {
      const result = await build(options);
      problems.push(...result.warnings.map((w) => `${name}: warning: ${describe(w)}`));
      results[name] = result;
    } catch (err) {
      if (Array.isArray(err.errors)) problems.push(...err.errors.map((e) => `${name}: ${describe(e)}`));
      else problems.push(`${name}: ${err.message}`);
    }
  }),
);
if (problems.length > 0) fail(problems);

for (const [name, result] of Object.entries(results)) {
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    for (const imp of output.imports) {
      if (!imp.external) continue;
      const allowed = name === 'server' && builtins.has(imp.path);
      const line = `${file} requires "${imp.path}" at run time; it must be bundled`;
      if (!allowed && !problems.includes(line)) problems.push(line);
    }
  }
}
if (problems.length > 0) fail(problems);

// Each file is replaced by a rename, so a test or a deploy reading dist/app while this runs sees
// either the old file or the new one, never half of one.
function writeAtomic(file, contents) {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, file);
}

const written = [];
for (const result of Object.values(results)) {
  for (const file of result.outputFiles) {
    writeAtomic(file.path, file.contents);
    written.push([file.path, file.contents.length]);
  }
}
const extras = [
  [path.join(publicDir, 'index.html'), readFileSync(path.join(srcDir, 'page', 'index.html'))],
  [path.join(outDir, 'package.json'), `${JSON.stringify({ type: 'commonjs', private: true }, null, 2)}\n`],
];
for (const [file, contents] of extras) {
  writeAtomic(file, contents);
  written.push([file, Buffer.byteLength(contents)]);
}

for (const [file, size] of written) {
  process.stdout.write(`bundle-app: ${path.relative(root, file)} ${(size / 1024).toFixed(1)} KiB\n`);
}
