import type { LabContext, Provider } from '../providers/provider.js';
import { FAULT_KINDS, type FaultKind } from '../faults/types.js';
import { redisMachine, webMachines, type LabSpec, type MachineSpec } from '../spec/types.js';
import { UsageError } from '../util/errors.js';
import { measureDelivery, type DeliveryReport } from './delivery.js';
import { analyzeFault, RECOVERY_LIMIT_MS, type FaultReport } from './fault-analysis.js';

/** The fault comes this long after the first send: delivery is steady by then. */
export const FAULT_AT_MS = 3000;
/** Sending goes on this long after the fault ended at the latest, so recovery can be seen. */
const AFTER_FAULT_MS = RECOVERY_LIMIT_MS + 3000;
/** What a fault other than link-cut is reckoned to take, for the run's length. */
const FAULT_RECKONED_MS = 2000;
/**
 * redis-failover: the cluster's node timeout (5 s in labctl's cluster.conf) before the replica
 * is elected, then the servers' slot refresh: reckoned generously so recovery is seen.
 */
const FAILOVER_RECKONED_MS = 10_000;

export interface FaultRequest {
  kind: FaultKind;
  /** a machine name; default: redis for redis-restart and link-cut, the first web node for web-kill */
  target?: string;
  /** link-cut: how long the link stays down */
  downMs: number;
}

/** The machine a fault goes to, or a one-line UsageError (exit 2) before anything is measured. */
export function faultTarget(spec: LabSpec, req: FaultRequest): MachineSpec {
  if (!FAULT_KINDS.includes(req.kind)) throw new UsageError(`--fault must be one of ${FAULT_KINDS.join(', ')}, got "${req.kind}"`);
  if (req.kind === 'redis-failover') {
    if (spec.redis.topology !== 'cluster') throw new UsageError(`--fault redis-failover needs a Redis Cluster: lab ${spec.name} has redis.topology ${spec.redis.topology}`);
    if (spec.redis.replicasPerMaster < 1) throw new UsageError(`--fault redis-failover needs a replica to promote: lab ${spec.name} has redis.replicasPerMaster 0`);
    // the channel's master is found when the fault is prepared: which node that is depends on the slots, not on the spec
    if (req.target) throw new UsageError('--fault-target does not apply to --fault redis-failover: it kills the master of the chat channel\'s shard, found when it runs');
    return redisMachine(spec);
  }
  const machine = req.target
    ? spec.machines.find((m) => m.name === req.target)
    : req.kind === 'web-kill'
      ? webMachines(spec)[0]
      : redisMachine(spec);
  if (!machine) throw new UsageError(`--fault-target: no machine named "${req.target}" in lab ${spec.name} (machines: ${spec.machines.map((m) => m.name).join(', ')})`);
  if (req.kind === 'redis-restart' && machine.role !== 'redis') throw new UsageError(`--fault redis-restart restarts Redis: ${machine.name} is a ${machine.role} machine (the redis machine is ${redisMachine(spec).name})`);
  if (req.kind === 'web-kill' && machine.role !== 'web') throw new UsageError(`--fault web-kill kills a web node's chat app: ${machine.name} is a ${machine.role} machine (web: ${webMachines(spec).map((m) => m.name).join(', ')})`);
  return machine;
}

/** How many messages each client sends by default in a fault run: the run covers the fault and the recovery after it. */
export function faultRunMessages(ratePerClient: number, req: FaultRequest): number {
  return Math.ceil((ratePerClient * minimumRunMs(req)) / 1000);
}

function minimumRunMs(req: FaultRequest): number {
  return FAULT_AT_MS + (req.kind === 'link-cut' ? req.downMs : req.kind === 'redis-failover' ? FAILOVER_RECKONED_MS : FAULT_RECKONED_MS) + AFTER_FAULT_MS;
}

/** A run too short to see the fault and the recovery after it is bad input, said before anything starts. */
export function checkFaultRunLength(messages: number, ratePerClient: number, req: FaultRequest): void {
  const runMs = (messages / ratePerClient) * 1000;
  const need = minimumRunMs(req);
  if (runMs < need) {
    throw new UsageError(
      `--messages ${messages} at --rate ${ratePerClient}/s lasts ${(runMs / 1000).toFixed(1)} s: a --fault ${req.kind} run needs at least ${need / 1000} s (--messages ${faultRunMessages(ratePerClient, req)} or more, or leave --messages out)`,
    );
  }
}

/**
 * The delivery measurement with the fault injected mid-run (FAULT_AT_MS after the first send),
 * then the per-node analysis. The provider prepares the fault first (its connections, the pids),
 * so that it acts at the planned moment; an unsupported fault is a UsageError here.
 */
export async function runFaultDelivery(
  lab: LabContext,
  provider: Provider,
  req: FaultRequest,
  load: { nodes: { name: string; url: string }[]; clientsPerNode: number; messagesPerClient: number; ratePerClient: number; onProgress?: (t: string) => void },
): Promise<{ delivery: DeliveryReport; fault: FaultReport }> {
  const target = faultTarget(lab.spec, req);
  const ops = provider.faults?.(lab);
  if (!ops) throw new UsageError(`verify --fault is not supported on the ${provider.name} provider yet (the netns provider implements it)`);
  const prepared = await ops.prepare(req.kind, target, { downMs: req.downMs });
  try {
    const delivery = await measureDelivery({
      ...load,
      // a message sent into an outage is acknowledged once its server can take it: wait for that
      ackTimeoutMs: 20_000,
      fault: { atMs: FAULT_AT_MS, inject: () => prepared.run() },
    });
    const trace = delivery.trace;
    if (!trace) {
      // the clients could not connect: nothing was sent, the fault was not injected
      const error = `not injected: ${delivery.reason}`;
      return { delivery, fault: { ok: false, reason: delivery.reason, backplane: lab.spec.redis.backplane, fault: { kind: req.kind, target: target.name, error }, promise: '', sent: 0, refused: 0, perNode: [] } };
    }
    delete delivery.trace;
    return { delivery, fault: analyzeFault(delivery, trace, lab.spec.redis.backplane) };
  } finally {
    await prepared.close();
  }
}
