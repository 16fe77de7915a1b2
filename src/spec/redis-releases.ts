/**
 * Upstream release tarballs whose sha256 labctl trusts without the spec pinning one
 * (values from github.com/redis/redis-hashes). A version not listed here needs
 * `source: { url, sha256 }` in the spec.
 */
export const PINNED_REDIS_RELEASES: Record<string, { url: string; sha256: string }> = {
  '7.0.15': {
    url: 'https://download.redis.io/releases/redis-7.0.15.tar.gz',
    sha256: '98066f5363504b26c34dd20fbcc3c957990d764cdf42576c836fc021073f4341',
  },
};
