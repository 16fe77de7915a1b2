import path from 'node:path';
import type { LabStore } from '../../state/store.js';

/** Where a netns machine keeps its files: its folder under the lab is its "disk". */
export function machineLayout(store: LabStore, machine: string) {
  const root = store.machineDir(machine);
  return {
    root,
    sshDir: path.join(root, 'etc/ssh'),
    sshdConfig: path.join(root, 'etc/ssh/sshd_config'),
    hostKey: path.join(root, 'etc/ssh/ssh_host_ed25519_key'),
    authorizedKeys: path.join(root, 'etc/ssh/authorized_keys'),
    sshdPid: path.join(root, 'run/sshd.pid'),
    sshdLog: path.join(root, 'var/log/sshd.log'),
  };
}
