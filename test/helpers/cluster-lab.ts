/**
 * A netns lab with a Redis Cluster backplane: 3 masters (redis1-3), with replicasPerMaster 1 three
 * replicas (redis4-6), and web1, web2. Redis is the host's own redis-server from a "prebuilt"
 * source tarball (fake-redis-source.ts): no minute of compiling. cleanup() also removes the tarball.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prebuiltRedisTarball } from './fake-redis-source.js';
import { createLabFixture, type LabFixture } from './lab.js';

export const CLUSTER_MASTERS = 3;

export async function createClusterLab(o: { subnet: string; prefix: string; replicasPerMaster: 0 | 1 }): Promise<LabFixture> {
  const sources = mkdtempSync(path.join(os.tmpdir(), `labctl-${o.prefix}-src-`));
  const redis = Array.from({ length: CLUSTER_MASTERS * (1 + o.replicasPerMaster) }, (_, i) => `redis${i + 1}`);
  try {
    const tarball = prebuiltRedisTarball(sources);
    const lab = await createLabFixture({
      subnet: o.subnet,
      prefix: o.prefix,
      machines: {
        ...Object.fromEntries(redis.map((n) => [n, { role: 'redis', os: 'ubuntu' }])),
        web1: { role: 'web', os: 'ubuntu' },
        web2: { role: 'web', os: 'ubuntu' },
      },
      patchSpec: (spec) => {
        spec.redis.source = { tarball };
        spec.redis.topology = 'cluster';
        spec.redis.masters = CLUSTER_MASTERS;
        spec.redis.replicasPerMaster = o.replicasPerMaster;
      },
    });
    const cleanup = lab.cleanup;
    lab.cleanup = async () => {
      try {
        return await cleanup();
      } finally {
        rmSync(sources, { recursive: true, force: true });
      }
    };
    return lab;
  } catch (err) {
    rmSync(sources, { recursive: true, force: true });
    throw err;
  }
}
