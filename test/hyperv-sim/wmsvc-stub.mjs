#!/usr/bin/env node
/**
 * The Web Management Service's HTTPS endpoint on a simulated Windows VM, run by the bridge
 * (bridge.ts) inside the VM's network namespace while the simulated WMSvc runs: it listens on
 * the VM's address, port 8172, with a self-signed certificate ("WMSVC is bound to all unassigned
 * IP addresses on port 8172 using a self-signed certificate", iis-docs remote-administration-
 * for-iis-manager.md), and answers every request without credentials with 401 (configure-the-
 * web-deployment-handler.md: "User receives 401 unauthorized error ... This error comes from
 * WMSVC"); 403 when remote connections were off when WMSvc started (this simulator's reading,
 * as behaviours/msdeploy.ps1). It publishes nothing: the simulated msdeploy.exe works on the
 * simulator's state.
 *
 *   node wmsvc-stub.mjs ADDRESS PORT CERT KEY remote|local
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';

const [address, port, cert, key, mode] = process.argv.slice(2);
const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  if (mode !== 'remote') {
    res.writeHead(403, { 'Content-Type': 'text/plain' });
    res.end('Remote connections are not enabled on this server.\n');
    return;
  }
  res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Basic realm="msdeploy"' });
  res.end('Unauthorized\n');
});
server.listen(Number(port), address);
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => server.close(() => process.exit(0)));
