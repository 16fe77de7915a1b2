/**
 * Where the streams backplane keeps things in Redis, all under the spec's channel so the chat
 * user's ACL (src/roles/redis/acl.ts), verify and watch name exactly these: one stream every
 * server appends to and reads, the sessions of disconnected clients, and the pub/sub channel the
 * adapter still uses for what need not last (serverCount, requests between servers; a server's
 * private channel adds `<uid>#`). No imports: the chat app (bundled) and labctl both use it.
 */
export function streamsKeys(channel: string) {
  return {
    stream: `${channel}-stream`,
    sessionPrefix: `${channel}-session:`,
    channel: `${channel}#/#`,
  };
}
