import type { MachineSpec } from '../../spec/types.js';
import type { GuestChannel } from '../../roles/web-windows/index.js';
import { invoke, type HypervEnv } from './env.js';
import { call, describeCall } from './scripts.js';
import { adminPassword } from './steps-windows.js';

const MASK = '<secret, from the lab secrets>';

/**
 * PowerShell Direct into one Windows VM, as the web role sees it: every guest call is one
 * run of guest-run.ps1 on the host, with the administrator's generated password.
 */
export function guestChannel(env: HypervEnv, m: MachineSpec): GuestChannel {
  const masked = (params: Record<string, unknown>, secrets: string[] = []) =>
    Object.fromEntries(Object.entries(params).map(([k, v]) => [k, secrets.includes(k) ? MASK : v]));
  return {
    run: <T>(guestScript: string, params: Record<string, unknown>, opts: { copy?: { from: string; to: string } } = {}) =>
      invoke<T>(env, call.guestRun(env.cfg, m, adminPassword(env.lab.store, m.name), guestScript, params, opts.copy), undefined, 30 * 60_000),
    describe: (guestScript, params, opts = {}) =>
      describeCall(call.guestRun(env.cfg, m, MASK, guestScript, masked(params, opts.secrets), opts.copy)),
  };
}
