import type { Step } from '../engine/step.js';
import type { FaultOps } from '../faults/types.js';
import type { TeardownPlan } from '../engine/teardown.js';
import type { Problem } from '../spec/semantics.js';
import type { LabSpec, MachineSpec, ProviderName } from '../spec/types.js';
import type { LabStore } from '../state/store.js';
import type { Transport } from '../transports/transport.js';
import type { ConnectionPool } from '../transports/pool.js';

export interface LabContext {
  spec: LabSpec;
  store: LabStore;
  home: string;
  /** connections shared by the steps of one command; closed when the command ends */
  connections?: ConnectionPool;
  /** false with create/up --no-cache: no cached machine image (Hyper-V's Ubuntu golden disk) is used or made */
  imageCache?: boolean;
}

export type LiveState = 'running' | 'stopped' | 'missing';

export interface MachineStatus {
  name: string;
  role: string;
  os: string;
  /** set when the machine stands in for another OS (Windows machines on netns) */
  standIn?: string;
  address: string;
  state: LiveState;
  detail?: string;
}

/** How a role reaches a Linux machine and where things go on it. */
export interface MachineAccess {
  machine: MachineSpec;
  connect(): Promise<Transport>;
  /** prefix of every path the roles install to: "" on a VM, the machine's folder on netns */
  root: string;
  /** Node.js binary the web role runs the app with */
  nodeBinary: string;
  services: 'systemd' | 'pidfile';
  firewall: 'ufw' | 'nft';
  /** the machine has no route out: downloads happen on the host and are uploaded */
  offline: boolean;
  /** a Linux stand-in for a Windows machine: Windows-only steps do not apply */
  standIn: boolean;
  /** wraps a shell command to run as root (e.g. "sudo -n"); absent: the login is root */
  asRoot?: (command: string) => string;
  /** throws unless the host reaches the machine's address through the lab's own network */
  guardRoute?: () => Promise<void>;
}

export interface GuestShell {
  transport(): Transport;
  interactive(): { file: string; args: string[] };
}

/** One log of a machine that `labctl logs` can show. */
export interface LogSource {
  kind: 'redis' | 'app' | 'build' | 'sshd' | 'console';
  /** where it is, for the heading: a path on the machine or on this host */
  where: string;
  /** the last `lines` lines */
  tail(lines: number): Promise<string>;
  /**
   * Writes the last `lines` lines, then what is appended, until `signal` aborts (or, for a
   * log read through a command on the machine, that command ends).
   */
  follow(lines: number, write: (text: string) => void, signal: AbortSignal): Promise<void>;
}

/** A checkpoint of one machine as the provider reports it. */
export interface MachineCheckpoint {
  machine: string;
  name: string;
  created: string;
  /** e.g. Hyper-V's Production or Standard; "files" on netns */
  type?: string;
}

/**
 * What a provider does for a lab that lives on between create and teardown: stop and start
 * machines, checkpoints, logs. The generic parts (which machines, in which order, Redis's data
 * saved first, the create and deploy steps that bring a machine back) are in src/living.
 */
export interface LivingOps {
  /** stops the machines keeping their disks; `save` keeps their memory too (Hyper-V Save-VM) */
  stop(machines: MachineSpec[], opts: { save: boolean; log: (line: string) => void }): Promise<void>;
  /** powers the machines on; their create steps then wait until they answer */
  powerOn(machines: MachineSpec[], log: (line: string) => void): Promise<void>;
  /** true when a checkpoint is taken and restored with the machines stopped (netns copies their folders) */
  readonly checkpointsWhileStopped: boolean;
  checkpointSave(name: string, machines: MachineSpec[], log: (line: string) => void): Promise<void>;
  /** brings the machines back to the checkpoint; they are left stopped (start brings them up) */
  checkpointRestore(name: string, machines: MachineSpec[], log: (line: string) => void): Promise<void>;
  checkpointList(machines: MachineSpec[]): Promise<MachineCheckpoint[]>;
  checkpointRemove(name: string, machines: MachineSpec[], log: (line: string) => void): Promise<void>;
  /** the logs labctl knows for a machine, in the order `labctl logs` prefers them */
  logs(machine: MachineSpec): LogSource[];
  /** what of a machine is removed by `recreate` besides its journaled resources (local files) */
  forgetMachine?(machine: MachineSpec): void;
}

export interface Provider {
  readonly name: ProviderName;
  /** spec checks that only matter to this provider */
  validate(spec: LabSpec): Problem[];
  /** throws PreflightError (exit 2) naming what to install or change */
  preflight(lab: LabContext): Promise<void>;
  createSteps(lab: LabContext): Step[];
  status(lab: LabContext): Promise<MachineStatus[]>;
  access(lab: LabContext, machine: MachineSpec): MachineAccess;
  /**
   * Deploy steps for a web machine this provider handles itself (Windows guests on
   * Hyper-V: IIS + iisnode over PowerShell Direct); undefined means the Linux web role.
   */
  webSteps?(lab: LabContext, machine: MachineSpec, redisServiceStep: string): Step[] | undefined;
  /**
   * A machine reached some other way than SSH (a Windows VM over PowerShell Direct): its
   * command transport and the program that opens an interactive session in this terminal.
   * Undefined: use access() (SSH).
   */
  guestShell?(lab: LabContext, machine: MachineSpec): GuestShell | undefined;
  /**
   * Throws unless the host reaches the machine's address through the lab's own network; for
   * machines access() does not cover (Windows VMs). Absent: access(machine).guardRoute.
   */
  guardRoute?(lab: LabContext, machine: MachineSpec): Promise<void>;
  /**
   * Checks that must pass before deploy changes anything on these machines (a tool the host
   * needs, for example); throws PreflightError naming what to install or change.
   */
  deployPreflight?(lab: LabContext, machines: MachineSpec[]): Promise<void>;
  /**
   * The remote management endpoint of a web machine, where one applies (Web Deploy through
   * the Web Management Service on a Windows VM): verify checks it answers and wants credentials.
   */
  webManagementUrl?(lab: LabContext, machine: MachineSpec): string | undefined;
  /** stop/start, checkpoints and logs (absent: the provider does not support them) */
  living?(lab: LabContext): LivingOps;
  /** the faults `verify --fault` injects (absent: this provider cannot inject faults yet) */
  faults?(lab: LabContext): FaultOps;
  teardownPlan(lab: LabContext): TeardownPlan;
  /** after teardown: anything of the lab still present, one line each */
  leftovers(lab: LabContext): Promise<string[]>;
}
