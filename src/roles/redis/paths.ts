import path from 'node:path';

/** Where the Redis role puts things on a machine; `root` is "" on a VM, the machine's folder on netns. */
export function redisPaths(root: string, version: string) {
  const p = (...parts: string[]) => path.posix.join(root || '/', ...parts);
  return {
    prefix: p('opt/redis', version),
    work: p('var/lib/labctl/redis-build'),
    upload: p('var/lib/labctl/redis-build/source.tar.gz'),
    buildLog: p('var/log/labctl/redis-build.log'),
    /** a build from the host's cache, uploaded; and a fresh build packed for the cache */
    cacheArchive: p('var/lib/labctl/redis-build/cache.tar.gz'),
    cacheManifest: p('var/lib/labctl/redis-build/cache.manifest'),
    cachePack: p('var/lib/labctl/redis-build/cache-pack'),
    confDir: p('etc/redis'),
    conf: p('etc/redis/redis.conf'),
    confOrig: p('etc/redis/redis.conf.orig'),
    passwordFile: p('etc/redis/password'),
    dataDir: p('var/lib/redis'),
    logDir: p('var/log/redis'),
    logFile: p('var/log/redis/redis.log'),
    pidFile: p('run/redis/redis.pid'),
    /** sha256 of the config the running server was started with */
    runningConf: p('run/redis/config.sha256'),
    firewallMark: p('etc/labctl/firewall.sha256'),
    unitUpload: p('var/lib/labctl/labctl-redis.service'),
  };
}
