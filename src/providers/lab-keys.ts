import type { LabStore } from '../state/store.js';
import { generateSshKeyPair } from '../transports/ssh.js';

const CLIENT_KEY = 'ssh_client_ed25519';

/** The lab's own SSH client key: generated once per lab, kept in its secrets. */
export function ensureLabClientKey(store: LabStore): { privateKey: string; publicKey: string } {
  if (store.secrets.has(CLIENT_KEY) && store.secrets.has(`${CLIENT_KEY}.pub`)) {
    return { privateKey: store.secrets.read(CLIENT_KEY), publicKey: store.secrets.read(`${CLIENT_KEY}.pub`) };
  }
  const pair = generateSshKeyPair(`labctl@${store.lab}`);
  store.secrets.write(CLIENT_KEY, pair.privateKey);
  store.secrets.write(`${CLIENT_KEY}.pub`, pair.publicKey.trim() + '\n');
  return pair;
}

export function labClientKeyExists(store: LabStore): boolean {
  return store.secrets.has(CLIENT_KEY) && store.secrets.has(`${CLIENT_KEY}.pub`);
}

export function hostKeyFact(machine: string): string {
  return `hostKey:${machine}`;
}
