import type { LabStore, Resource } from '../state/store.js';

export interface StepContext {
  store: LabStore;
  /** a detail line: shown with --verbose, kept for the failure report otherwise */
  log(line: string): void;
  /** replaces the progress text of this step (e.g. "compiling 40%") */
  progress(text: string): void;
  /** journals a resource before the step creates it, so teardown can always find it */
  record(resource: Omit<Resource, 'at'>): void;
}

/** What a step would run, for `labctl plan` (Hyper-V steps name their script and parameters). */
export interface StepAction {
  script?: string;
  params?: Record<string, unknown>;
  command?: string;
}

export interface Step {
  /** unique and stable across runs: the journal is keyed by it */
  id: string;
  title: string;
  machine?: string;
  deps?: string[];
  /**
   * Steps naming the same key never run at the same time, whatever their machines: e.g. one
   * Windows Installer transaction per guest (a second msiexec exits 1618), one virtual disk
   * of a base image mounted at a time on the host (the same disk signature keeps the second
   * one offline).
   */
  exclusive?: string;
  /**
   * Is the work already there? Checked live on every run; without a check the journal
   * decides (a step recorded as finished is not run again).
   */
  check?(ctx: StepContext): Promise<boolean>;
  apply(ctx: StepContext): Promise<void | Record<string, unknown>>;
  describe?(): StepAction;
  /** set when this step cannot apply on this provider; reported as such, never as done */
  notApplicable?: string;
}

export type StepStatus = 'done' | 'todo' | 'n/a';

export interface PlannedStep {
  id: string;
  title: string;
  machine?: string;
  status: StepStatus;
  reason: string;
  action?: StepAction;
}
