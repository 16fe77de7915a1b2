// Connects to each HOST:PORT given on the command line, reads what the server says first (up
// to 64 bytes or 2 s) and prints one JSON object per target:
//   {"target":"198.18.10.11:22","ok":true,"banner":"SSH-2.0-OpenSSH_..."}
// Exits 0 when every target answered, 1 otherwise. Run inside a lab machine (the namespaces
// share the host's filesystem): labctl ssh web1 -- /usr/bin/node .../tcp-probe.mjs 198.18.10.10:22
import net from 'node:net';

const timeoutMs = Number(process.env.PROBE_TIMEOUT_MS ?? 2000);

function probe(target) {
  const i = target.lastIndexOf(':');
  const host = target.slice(0, i);
  const port = Number(target.slice(i + 1));
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let data = '';
    const done = (ok, error) => {
      socket.destroy();
      clearTimeout(timer);
      resolve({ target, ok, banner: data.split(/\r?\n/)[0], ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => done(data.length > 0, data.length > 0 ? undefined : 'timeout'), timeoutMs);
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8');
      if (data.includes('\n') || data.length >= 64) done(true);
    });
    socket.on('end', () => done(data.length > 0, data.length > 0 ? undefined : 'closed without data'));
    socket.on('error', (err) => done(false, err.code ?? err.message));
  });
}

const results = await Promise.all(process.argv.slice(2).map(probe));
for (const r of results) process.stdout.write(JSON.stringify(r) + '\n');
process.exitCode = results.every((r) => r.ok) ? 0 : 1;
