import { randomBytes } from 'node:crypto';
import { sleep } from '../util/time.js';
import { ChatClient, type ChatMessage } from './chat-client.js';

export interface LbCheckResult {
  /** clients per web node, as each join's answer named the server */
  spread: Record<string, number>;
  /** nodes that got no client */
  missed: string[];
  clients: number;
  /** each client sent one message; every client must receive every one */
  expected: number;
  received: number;
  /** of the received, those accepted by another server than the receiver's */
  crossNode: number;
  /** connection or join failures, one line each */
  failures: string[];
}

/**
 * Clients opened one after another on the load balancer's address, as browsers would (long-polling
 * first, then the WebSocket upgrade, the sticky cookie kept): which server each landed on, and
 * whether one message from each reaches all of them. Every wait is bounded.
 */
export async function checkThroughLb(url: string, webNodes: string[], clients: number, timeoutMs = 5000): Promise<LbCheckResult> {
  const tag = randomBytes(4).toString('hex');
  const open: ChatClient[] = [];
  const failures: string[] = [];
  const got = new Map<ChatClient, ChatMessage[]>();
  try {
    for (let i = 0; i < clients; i++) {
      const c = new ChatClient(url, `lb-${i}`, { cookies: true });
      open.push(c);
      got.set(c, []);
      c.onChat((m) => {
        if (m.text.startsWith(`lb ${tag} `)) got.get(c)!.push(m);
      });
      try {
        await c.connect(timeoutMs);
        const ack = await c.join(`lb-${tag}-${i}`);
        if (!ack.ok) failures.push(`client ${i}: join refused: ${ack.error}`);
      } catch (err) {
        failures.push(`client ${i}: ${(err as Error).message}`);
      }
    }
    const joined = open.filter((c) => c.node !== undefined);
    const spread: Record<string, number> = Object.fromEntries(webNodes.map((n) => [n, 0]));
    for (const c of joined) spread[c.node!] = (spread[c.node!] ?? 0) + 1;
    for (const [i, c] of joined.entries()) {
      const ack = await c.send(`lb ${tag} ${i}`).catch((err: Error) => ({ ok: false as const, error: err.message }));
      if (!ack.ok) failures.push(`client ${c.label} (${c.node}): send refused: ${ack.error}`);
    }
    const expected = joined.length * joined.length;
    const count = () => joined.reduce((n, c) => n + got.get(c)!.length, 0);
    const deadline = Date.now() + timeoutMs;
    while (count() < expected && Date.now() < deadline) await sleep(50);
    const crossNode = joined.reduce((n, c) => n + got.get(c)!.filter((m) => m.origin !== c.node).length, 0);
    return {
      spread,
      missed: webNodes.filter((n) => !spread[n]),
      clients: joined.length,
      expected,
      received: count(),
      crossNode,
      failures,
    };
  } finally {
    for (const c of open) c.close();
  }
}
