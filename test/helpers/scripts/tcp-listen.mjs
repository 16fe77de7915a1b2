// A one-off TCP listener for reachability tests:
//   node tcp-listen.mjs ADDRESS PORT TOKEN READY_FILE [CONNECTIONS=1] [LIFETIME_MS=20000]
// Listens on ADDRESS:PORT, writes READY_FILE once listening, answers each connection with
// "TOKEN from ADDRESS to CLIENT_ADDRESS\n", and exits after CONNECTIONS connections or
// LIFETIME_MS, whichever comes first, so it never outlives its test.
import { writeFileSync } from 'node:fs';
import net from 'node:net';

const [address, portText, token, readyFile, connectionsText = '1', lifetimeText = '20000'] = process.argv.slice(2);
let left = Number(connectionsText);
const server = net.createServer((socket) => {
  socket.end(`${token} from ${address} to ${socket.remoteAddress}\n`);
  if (--left <= 0) server.close();
});
server.listen(Number(portText), address, () => writeFileSync(readyFile, String(process.pid)));
setTimeout(() => process.exit(3), Number(lifetimeText)).unref();
server.on('close', () => setTimeout(() => process.exit(0), 50));
