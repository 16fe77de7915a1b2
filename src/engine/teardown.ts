import type { LabStore, Resource } from '../state/store.js';
import { processInterruption } from '../util/cancel.js';
import { errorMessage } from '../util/errors.js';

export type Remover = (resource: Resource) => Promise<void>;

export interface TeardownPlan {
  /** resource kinds in the order they must go (e.g. processes' namespaces before folders) */
  order: string[];
  removers: Record<string, Remover>;
}

export type TeardownEvent =
  | { type: 'removing'; resource: Resource }
  | { type: 'removed'; resource: Resource }
  | { type: 'failed'; resource: Resource; error: unknown };

export interface TeardownResult {
  removed: Resource[];
  failed: { resource: Resource; reason: string }[];
}

/**
 * Removes exactly the resources the journal lists, kind by kind in the provider's
 * order and newest first within a kind. Each removal is journaled as it happens, so an
 * interrupted teardown resumes where it stopped. A failure does not stop the others; an
 * interruption (Ctrl-C, SIGTERM) stops before the next one.
 */
export async function removeResources(
  store: LabStore,
  plan: TeardownPlan,
  onEvent: (e: TeardownEvent) => void = () => {},
): Promise<TeardownResult> {
  const rank = (kind: string) => {
    const i = plan.order.indexOf(kind);
    return i === -1 ? plan.order.length : i;
  };
  const resources = store
    .resources()
    .map((r, i) => ({ r, i }))
    .sort((a, b) => rank(a.r.kind) - rank(b.r.kind) || b.i - a.i)
    .map((x) => x.r);
  const result: TeardownResult = { removed: [], failed: [] };
  for (const resource of resources) {
    // interrupted (Ctrl-C): stop between two removals; the journal still lists the rest
    processInterruption.throwIfInterrupted();
    const remover = plan.removers[resource.kind];
    onEvent({ type: 'removing', resource });
    try {
      if (!remover) throw new Error(`labctl does not know how to remove a ${resource.kind}`);
      await remover(resource);
      store.removeResource(resource.kind, resource.id);
      result.removed.push(resource);
      onEvent({ type: 'removed', resource });
    } catch (error) {
      result.failed.push({ resource, reason: errorMessage(error) });
      onEvent({ type: 'failed', resource, error });
    }
  }
  return result;
}
