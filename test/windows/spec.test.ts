/**
 * A spec whose hyperv paths are Windows paths (C:\labctl\...) loads, validates and is accepted by
 * `labctl validate --provider hyperv`, with the spec itself at a Windows path under Node for
 * Windows; a relative path is refused naming its field.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadSpec } from '../../src/spec/load.js';
import { providerFor } from '../../src/providers/index.js';
import { describeRun, labctl, tempDir } from './support.js';

const dir = tempDir('spec');
after(() => rmSync(dir, { recursive: true, force: true }));

function specText(hyperv: Record<string, string>): string {
  return [
    'name: win-paths',
    'provider: hyperv',
    'network: { subnet: 198.18.22.0/24 }',
    'redis: { version: 7.0.15, source: { tarball: redis-7.0.15.tar.gz } }',
    'machines:',
    '  redis: { role: redis, os: ubuntu, ip: 198.18.22.10, memory: 2GB, disk: 20GB }',
    '  web1: { role: web, os: windows, ip: 198.18.22.11, memory: 4GB, disk: 40GB }',
    'hyperv:',
    // plain YAML scalars: a backslash is an ordinary character
    ...Object.entries(hyperv).map(([k, v]) => `  ${k}: ${v}`),
    '',
  ].join('\n');
}

const WINDOWS_PATHS = {
  ubuntuIso: 'C:\\labctl\\iso\\ubuntu.iso',
  windowsIso: 'C:\\labctl\\iso\\windows-server-2022.iso',
  vmPath: 'C:\\labctl\\vms',
  imageCache: 'D:\\labctl cache\\images',
};

describe('a spec with C:\\ paths', () => {
  const file = path.join(dir, 'lab.yaml');
  writeFileSync(file, specText(WINDOWS_PATHS));

  test('loads with its paths intact and validates for hyperv', () => {
    if (process.platform === 'win32') assert.match(file, /^[A-Za-z]:\\/, 'the spec itself is at a Windows path');
    const spec = loadSpec(file);
    assert.equal(spec.file, file);
    assert.deepEqual(
      { ubuntuIso: spec.hyperv?.ubuntuIso, windowsIso: spec.hyperv?.windowsIso, vmPath: spec.hyperv?.vmPath, imageCache: spec.hyperv?.imageCache },
      WINDOWS_PATHS,
    );
    // a tarball named relative to the spec is found beside it, with this OS's separators
    assert.deepEqual(spec.redis.source, { kind: 'tarball', path: path.join(dir, 'redis-7.0.15.tar.gz'), sha256: undefined });
    assert.deepEqual(providerFor('hyperv').validate(spec), []);
  });

  test('labctl validate --provider hyperv says ok', async () => {
    const r = await labctl(['validate', '--provider', 'hyperv', '--spec', file]);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, 'ok\n');
    assert.equal(r.stderr, '');
  });

  test('a relative ISO path is refused, naming the field', async () => {
    const bad = path.join(dir, 'relative.yaml');
    writeFileSync(bad, specText({ ...WINDOWS_PATHS, ubuntuIso: 'iso\\ubuntu.iso' }));
    const problems = providerFor('hyperv').validate(loadSpec(bad));
    assert.deepEqual(problems, [{ field: 'hyperv.ubuntuIso', message: 'must be an absolute Windows path such as C:\\labctl\\... (got "iso\\\\ubuntu.iso")' }]);
    const r = await labctl(['validate', '--provider', 'hyperv', '--spec', bad]);
    assert.equal(r.code, 2, describeRun(r));
    assert.equal(r.stdout, `${bad}:hyperv.ubuntuIso: must be an absolute Windows path such as C:\\labctl\\... (got "iso\\\\ubuntu.iso")\n`);
  });
});
