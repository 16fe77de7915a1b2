import type { Step } from '../engine/step.js';
import type { LabContext, Provider } from '../providers/provider.js';
import { lbMachine, redisMachine, redisMachines } from '../spec/types.js';
import { CLUSTER_CREATE_STEP, clusterCreateSteps } from './redis/cluster.js';
import { lbSteps } from './lb/index.js';
import { redisSteps } from './redis/index.js';
import { loadBundle } from './web-linux/bundle.js';
import { webLinuxSteps } from './web-linux/index.js';

export interface DeployStepOptions {
  /** false: Redis is built from source and not kept (deploy/up --no-cache) */
  buildCache?: boolean;
}

/** Every deploy step of the lab: Redis on its machine (or each node of its cluster, then the cluster formed), the chat app on each web machine, the load balancer in front. */
export function deploySteps(lab: LabContext, provider: Provider, opts: DeployStepOptions = {}): Step[] {
  const steps: Step[] = [];
  for (const m of redisMachines(lab.spec)) steps.push(...redisSteps({ lab, providerName: provider.name, access: provider.access(lab, m), buildCache: opts.buildCache }));
  // the chat servers start once Redis answers: the one server, or the whole cluster formed
  let redisService = `redis:${redisMachine(lab.spec).name}:service`;
  if (lab.spec.redis.topology === 'cluster') {
    const services = redisMachines(lab.spec).map((m) => `redis:${m.name}:service`);
    steps.push(...clusterCreateSteps(lab, provider.access(lab, redisMachine(lab.spec)), services));
    redisService = CLUSTER_CREATE_STEP;
  }
  let bundle: ReturnType<typeof loadBundle> | undefined;
  for (const m of lab.spec.machines.filter((x) => x.role === 'web')) {
    const own = provider.webSteps?.(lab, m, redisService);
    if (own) {
      steps.push(...own);
      continue;
    }
    if (!bundle) {
      bundle = loadBundle();
      bundle.catch(() => {}); // reported by the first step that awaits it
    }
    steps.push(...webLinuxSteps({ lab, providerName: provider.name, access: provider.access(lab, m) }, redisService, bundle));
  }
  const lb = lbMachine(lab.spec);
  if (lb) {
    const webServices = steps.filter((s) => s.machine !== undefined && s.id.endsWith(':service') && lab.spec.machines.some((m) => m.role === 'web' && m.name === s.machine)).map((s) => s.id);
    steps.push(...lbSteps({ lab, providerName: provider.name, access: provider.access(lab, lb) }, webServices));
  }
  return steps;
}
