// The chat server a user would write from socket.io's own documentation ("Redis adapter" page):
// socket.io + @socket.io/redis-adapter on ioredis, one io.emit (one Redis PUBLISH) per message,
// no batching, no rate limit. Baseline (b) of scripts/bench-scale.mjs; it speaks just enough of
// the lab's wire contract (join / chat with acks, "chat" events) for labctl's delivery measurement.
// With REDIS_NODES (host:port,...) it is the documentation's "With the ioredis package and a Redis
// cluster": the same adapter over an ioredis Cluster, classic PUBLISH (which a cluster forwards to
// every node), since the page says the sharded adapter does not work with ioredis and a cluster.
//   HOST=... PORT=3000 NODE_NAME=web1 REDIS_HOST=... REDIS_PORT=6379 REDIS_PASSWORD=... node socketio-docs-server.cjs
const { createServer } = require('node:http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { Cluster, Redis } = require('ioredis');

const node = process.env.NODE_NAME || 'web';
const password = process.env.REDIS_PASSWORD;
const seeds = process.env.REDIS_NODES ? process.env.REDIS_NODES.split(',').map((s) => ({ host: s.split(':')[0], port: Number(s.split(':')[1]) })) : undefined;
const pubClient = seeds ? new Cluster(seeds, { redisOptions: { password } }) : new Redis({ host: process.env.REDIS_HOST, port: Number(process.env.REDIS_PORT || 6379), password });
const subClient = pubClient.duplicate();
const httpServer = createServer();
const io = new Server(httpServer, { adapter: createAdapter(pubClient, subClient) });
let counter = 0;

io.on('connection', (socket) => {
  socket.on('join', (name, ack) => {
    socket.data.name = String(name);
    if (typeof ack === 'function') ack({ ok: true, node, name: socket.data.name });
  });
  socket.on('chat', (msg, ack) => {
    const m = { id: `${node}-${++counter}`, name: socket.data.name, text: msg && msg.text, origin: node, sentAt: Date.now() };
    io.emit('chat', m);
    if (typeof ack === 'function') ack({ ok: true, id: m.id });
  });
});

let ready = 0;
const up = () => {
  if (++ready === 3) console.log('ready');
};
pubClient.once('ready', up);
subClient.once('ready', up);
httpServer.listen(Number(process.env.PORT || 3000), process.env.HOST, up);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
