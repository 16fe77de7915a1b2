import { OperationError } from '../../util/errors.js';
import { sleep } from '../../util/time.js';
import { consoleTail } from './console.js';
import type { VmFacts } from './scripts.js';

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = { now: () => Date.now(), sleep };

export interface Phase {
  machine: string;
  /** short name shown in progress and errors: installing, rebooted, ssh, ... */
  name: string;
  /** what has to happen, as a sentence end: "the installer finished and powered the VM off" */
  goal: string;
  timeoutMs: number;
  intervalMs: number;
  /** one look; throws for a state that cannot end well (then waiting longer is pointless) */
  poll(): Promise<{ done: boolean; seen?: string }>;
  /** the lines of the timeout error: what the VM looks like now and what that suggests */
  diagnose(lastSeen: string | undefined): Promise<string[]>;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m} min${s % 60 ? ` ${s % 60} s` : ''}`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * Polls one phase until it is done or its own timeout runs out. A timeout is an error whose
 * details are the diagnosis, never a bare "timed out".
 */
export async function waitForPhase(phase: Phase, clock: Clock, progress?: (text: string) => void): Promise<void> {
  const started = clock.now();
  const deadline = started + phase.timeoutMs;
  let seen: string | undefined;
  for (;;) {
    const r = await phase.poll();
    if (r.done) return;
    seen = r.seen ?? seen;
    const now = clock.now();
    progress?.(`${phase.name}: ${seen ?? 'waiting'} (${formatDuration(now - started)} of ${formatDuration(phase.timeoutMs)})`);
    if (now >= deadline) {
      throw new OperationError(
        `${phase.machine}: ${phase.goal} did not happen within ${formatDuration(phase.timeoutMs)} (phase "${phase.name}")`,
        await phase.diagnose(seen),
      );
    }
    await clock.sleep(Math.max(1, Math.min(phase.intervalMs, deadline - now)));
  }
}

const HEARTBEAT_HINTS: Record<string, string> = {
  NoContact: 'no heartbeat: the guest OS is not running, or is still in its boot loader or installer',
  LostCommunication: 'the heartbeat stopped: the guest hung, crashed or is rebooting',
  Paused: 'the VM is paused',
  Error: 'Hyper-V reports a heartbeat error',
};

/** What the host can tell about a VM that is late, plus its serial console's last lines. */
export function vmDiagnosis(vm: VmFacts | undefined, consoleFile: string | undefined, seen: string | undefined, extra: string[] = []): string[] {
  const lines: string[] = [];
  if (!vm || !vm.exists) {
    lines.push('the VM does not exist any more');
    return [...lines, ...extra];
  }
  lines.push(`VM state: ${vm.state}${vm.status ? ` (${vm.status})` : ''}, up ${formatDuration((vm.uptimeSeconds ?? 0) * 1000)}`);
  const hb = vm.heartbeat || 'unknown';
  lines.push(`heartbeat: ${hb}${HEARTBEAT_HINTS[hb] ? ` - ${HEARTBEAT_HINTS[hb]}` : ''}`);
  const reported = (vm.adapters ?? []).flatMap((a) => a.addresses ?? []);
  lines.push(
    reported.length > 0
      ? `addresses the guest reports: ${reported.join(', ')}`
      : 'addresses the guest reports: none (the guest has no Hyper-V KVP daemon running yet; labctl does not need it)',
  );
  const neighbours = vm.neighbours ?? [];
  lines.push(
    neighbours.length > 0
      ? `host's neighbour table for its MAC: ${neighbours.map((n) => `${n.ip} (${n.state})`).join(', ')}`
      : "host's neighbour table for its MAC: no entry (the guest has not talked to the host on the lab network)",
  );
  if (vm.dvds && vm.dvds.length > 0) lines.push(`discs: ${vm.dvds.join(', ')}`);
  if (seen) lines.push(`last check: ${seen}`);
  lines.push(...extra);
  if (consoleFile) {
    const tail = consoleTail(consoleFile, 40);
    if (tail.length === 0) {
      lines.push(`serial console (${consoleFile}): nothing received yet`);
    } else {
      lines.push(`serial console, last ${tail.length} lines (${consoleFile}):`, ...tail.map((l) => `  | ${l}`));
      lines.push(...consoleHints(tail));
    }
  }
  return lines;
}

/** Known installer states recognised in the console text. */
export function consoleHints(tail: string[]): string[] {
  const text = tail.join('\n');
  const hints: string[] = [];
  if (/Continue with autoinstall\?/.test(text) || /state NEEDS_CONFIRMATION/.test(text)) {
    hints.push('hint: the installer waits for its "Continue with autoinstall?" confirmation: the confirm helper did not get an answer from subiquity (see the labctl-confirm lines)');
  }
  if (/autoinstall config did not validate|Malformed autoinstall|jsonschema/i.test(text)) {
    hints.push('hint: subiquity rejected the autoinstall configuration (see the lines above)');
  }
  if (/curtin command .* failed|An error occurred|subiquity\/Error/i.test(text)) {
    hints.push('hint: the installer reported an error; the full logs are in /var/log/installer on the live system');
  }
  if (/Temporary failure resolving|Could not resolve|Failed to fetch/i.test(text)) {
    hints.push('hint: the guest cannot reach the package archive: check the lab NAT (Get-NetNat) and hyperv.dns');
  }
  return hints;
}
