import { z } from 'zod';

/** A lab name becomes part of folder, namespace, switch and VM names. */
export const LAB_NAME = /^[a-z][a-z0-9-]{0,23}$/;
/** RFC 1123 label, at most 15 characters so it is also a valid Windows computer name. */
export const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

const port = z.int().min(1).max(65535);
const size = z.string().regex(/^\d+(\.\d+)?\s*(MB|GB|TB)$/i, { error: 'must be a size such as 512MB, 4GB or 1TB' });
const sha256 = z.string().regex(/^[0-9a-f]{64}$/i, { error: 'must be 64 hexadecimal characters' });

const redisSource = z.union([
  z.enum(['auto', 'distro', 'url']),
  z.strictObject({ url: z.url({ protocol: /^https?$/ }), sha256 }),
  z.strictObject({ tarball: z.string().min(1), sha256: sha256.optional() }),
]);

const machine = z.strictObject({
  role: z.enum(['redis', 'web', 'lb']),
  os: z.enum(['ubuntu', 'windows']),
  ip: z.string(),
  cpus: z.int().min(1).max(64).default(2),
  memory: size.default('2GB'),
  disk: size.default('20GB'),
});

/**
 * An installer of the Windows web role from elsewhere than its pinned download: a local copy
 * (an air-gapped host, a file already on disk) or another URL (another version), with its
 * sha256 either way. Exactly one of file and url.
 */
const installer = z
  .strictObject({
    /** a local file on the host labctl runs on (relative: to the spec file's folder) */
    file: z.string().min(1).optional(),
    url: z.url({ protocol: /^https?$/ }).optional(),
    sha256,
  })
  .superRefine((v, ctx) => {
    if ((v.file === undefined) === (v.url === undefined)) {
      ctx.addIssue({ code: 'custom', message: `give file (a local copy of the installer) or url (where to download it), not ${v.file === undefined ? 'neither' : 'both'}` });
    }
  });

export const INSTALLER_IDS = ['webdeploy', 'rewrite', 'node', 'iisnode'] as const;

const duration = z.string().regex(/^\d+(ms|s|m|h)$/, { error: 'must be a duration such as 90s, 10m or 1h' });

const hyperv = z.strictObject({
  /** Ubuntu live-server ISO installed with autoinstall */
  ubuntuIso: z.string().min(1).optional(),
  /** a generalized Windows Server VHDX used as the parent of each web VM's differencing disk */
  windowsImage: z.string().min(1).optional(),
  /** alternatively: a Windows Server ISO whose install.wim is expanded once into a cached base VHDX */
  windowsIso: z.string().min(1).optional(),
  windowsImageIndex: z.int().min(1).max(32).default(2),
  vmPath: z.string().min(1).optional(),
  /** where base disks built from windowsIso are kept between labs (default: <vmPath>\_cache) */
  imageCache: z.string().min(1).optional(),
  switch: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$/, { error: 'must be 1-63 letters, digits, spaces, dots, dashes or underscores' }).optional(),
  timeZone: z.string().min(1).default('UTC'),
  /** DNS servers for the VMs (default: the host's own IPv4 DNS servers, read at create) */
  dns: z.array(z.string()).min(1).optional(),
  /**
   * how the chat app reaches the Windows web VMs: webdeploy (msdeploy.exe on the host through
   * the Web Management Service, as the tutorial publishes) or copy (over PowerShell Direct)
   */
  publish: z.enum(['webdeploy', 'copy']).default('webdeploy'),
  /** the web role's installers from elsewhere: { webdeploy | rewrite | node | iisnode: { file | url, sha256 } } */
  installers: z
    .strictObject(Object.fromEntries(INSTALLER_IDS.map((id) => [id, installer.optional()])) as Record<(typeof INSTALLER_IDS)[number], z.ZodOptional<typeof installer>>)
    .optional(),
  timeouts: z
    .strictObject({
      install: duration.default('45m'),
      boot: duration.default('10m'),
      ready: duration.default('10m'),
      /** how often a wait looks again (default: every 15 s while Ubuntu installs, every 5 s otherwise) */
      poll: duration.optional(),
    })
    .prefault({}),
});

export const labSpecSchema = z.strictObject({
  name: z.string().regex(LAB_NAME, {
    error: 'must start with a lowercase letter and hold only lowercase letters, digits and "-" (at most 24 characters)',
  }),
  provider: z.enum(['netns', 'hyperv']).optional(),
  network: z.strictObject({
    subnet: z.string(),
    /**
     * give the machines a route out through the host (Hyper-V: New-NetNat; netns: nftables
     * masquerade). Unset: the provider's default (hyperv: on, the VMs install packages; netns: off).
     */
    nat: z.boolean().optional(),
  }),
  redis: z.strictObject({
    version: z.string().regex(/^\d+\.\d+\.\d+$/, { error: 'must be a full version such as 7.0.15' }),
    port: port.default(6379),
    channel: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, { error: 'must be 1-64 letters, digits, "_", ".", ":" or "-"' })
      .default('ChatApp'),
    /**
     * how the chat servers exchange messages through Redis: pubsub (the tutorial's
     * @socket.io/redis-adapter, at most once) or streams (@socket.io/redis-streams-adapter with
     * connection state recovery: what a server accepted waits out a Redis outage instead of being dropped)
     */
    backplane: z.enum(['pubsub', 'streams']).default('pubsub'),
    source: redisSource.default('auto'),
    /**
     * single: one Redis (the default); cluster: a Redis Cluster of masters x (1 + replicasPerMaster)
     * redis machines, the chat servers on the sharded pub/sub adapter. masters and
     * replicasPerMaster are only allowed with cluster (checked in semantics.ts, which can say so).
     */
    topology: z.enum(['single', 'cluster']).default('single'),
    masters: z.int().min(3, { error: 'must be at least 3 (a Redis Cluster needs a majority of masters to agree on a failover)' }).max(100).optional(),
    replicasPerMaster: z.int().min(0).max(1).optional(),
  }),
  app: z
    .strictObject({
      port: port.default(80),
      rateLimit: z
        .strictObject({
          perSecond: z.int().min(1).max(100000).default(20),
          burst: z.int().min(1).max(100000).default(40),
        })
        .prefault({}),
    })
    .prefault({}),
  machines: z.record(z.string(), machine),
  hyperv: hyperv.optional(),
});

export type LabSpecInput = z.input<typeof labSpecSchema>;
export type ParsedSpec = z.output<typeof labSpecSchema>;
export type MachineSpecInput = z.output<typeof machine>;
export type RedisSourceSpec = z.output<typeof redisSource>;
export type HypervSpec = z.output<typeof hyperv>;
export type InstallerSpec = z.output<typeof installer>;
