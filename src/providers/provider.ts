import type { Step } from '../engine/step.js';
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
  teardownPlan(lab: LabContext): TeardownPlan;
  /** after teardown: anything of the lab still present, one line each */
  leftovers(lab: LabContext): Promise<string[]>;
}
