/**
 * network.nat on netns: without it a machine has no route out of the lab; with it each
 * machine routes through the host's bridge address, the lab's own nftables table
 * masquerades the subnet, and teardown removes the table and restores IPv4 forwarding.
 * No packet is sent outside: the routes and rules are read, not exercised.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { withLab } from '../helpers/lab.js';
import { natTableName } from '../../src/providers/netns/names.js';

const sh = (file: string, args: string[]) => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const forwarding = () => sh('sysctl', ['-n', 'net.ipv4.ip_forward']).trim();

describe('netns NAT', { timeout: 120_000 }, () => {
  it('is off by default: no default route inside the machines', async () => {
    await withLab({ subnet: '198.18.102.0/24', prefix: 'nn' }, async (lab) => {
      await lab.create();
      const routes = await lab.ssh('web1', 'ip -4 route');
      assert.equal(routes.code, 0);
      assert.doesNotMatch(routes.stdout, /default/);
      assert.match(routes.stdout, /198\.18\.102\.0\/24 dev eth0/);
      await lab.teardown();
    });
  });

  it('network.nat: true adds a default route via the gateway and a masquerade table; teardown removes both', async () => {
    const before = forwarding();
    await withLab({ subnet: '198.18.103.0/24', prefix: 'nat', patchSpec: (s) => (s.network.nat = true) }, async (lab) => {
      await lab.create();
      const routes = await lab.ssh('redis', 'ip -4 route');
      assert.match(routes.stdout, /^default via 198\.18\.103\.1 dev eth0/m);
      const table = natTableName(lab.name);
      const rules = sh('nft', ['list', 'table', 'ip', table]);
      assert.match(rules, /ip saddr 198\.18\.103\.0\/24 oifname != "lcb[0-9a-f]{6}" masquerade/);
      assert.equal(forwarding(), '1');
      await lab.teardown();
      assert.throws(() => sh('nft', ['list', 'table', 'ip', table]), 'the nat table is gone');
      assert.equal(forwarding(), before, 'IPv4 forwarding is back to what it was');
      assert.deepEqual(lab.leftovers(), []);
    });
  });
});
