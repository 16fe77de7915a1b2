import type { MachineSpec } from '../spec/types.js';

/**
 * The faults `labctl verify --fault` injects while it measures delivery:
 *   redis-restart  the Redis service restarted (its clients' connections drop, its data goes: no persistence)
 *   web-kill       one web node's chat app killed (SIGKILL, a crash) and started again, as a service manager does
 *   link-cut       one machine's network link down for a few seconds, then up (TCP connections survive if short)
 *   redis-failover a Redis Cluster: the master of the chat channel's shard killed (SIGKILL); its replica takes over
 */
export const FAULT_KINDS = ['redis-restart', 'web-kill', 'link-cut', 'redis-failover'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** When the fault happened, on this process's performance.now() clock (the delivery measurement's). */
export interface FaultWindow {
  kind: FaultKind;
  target: string;
  /** the moment the fault began (Redis told to stop, the app killed, the link set down) */
  startedAt: number;
  /** the moment it was over (Redis answering again, the app serving with Redis connected, the link up) */
  endedAt: number;
  /** what was done, for the report */
  detail: string;
}

export interface FaultOptions {
  /** link-cut: how long the link stays down */
  downMs: number;
}

/** A fault made ready (connections opened, pids and paths found) so that run() acts at once. */
export interface PreparedFault {
  run(): Promise<FaultWindow>;
  close(): Promise<void>;
}

/**
 * A provider's fault injection. prepare() throws UsageError when this provider cannot inject that
 * fault into that machine ("not supported here yet"), before anything is measured.
 */
export interface FaultOps {
  prepare(kind: FaultKind, machine: MachineSpec, opts: FaultOptions): Promise<PreparedFault>;
}
