/** Facts the living commands keep in the lab's journal. */

/** set by `labctl stop`, cleared by `labctl start`: status says who stopped a machine, and when */
export const stoppedFact = (machine: string) => `stopped:${machine}`;

export interface StoppedFact {
  at: string;
  /** Hyper-V: saved (Save-VM) rather than turned off */
  saved?: boolean;
}

/** a checkpoint labctl took: its machines and when (the provider's own list is the truth) */
export const checkpointFact = (name: string) => `checkpoint:${name}`;

export interface CheckpointFact {
  created: string;
  machines: string[];
  /** the spec's hash when it was taken */
  spec: string;
}
