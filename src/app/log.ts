export type Log = (event: string) => void;

/**
 * One line per notable event on stdout (iisnode and the netns supervisor both collect it).
 * Callers pass only event descriptions: message texts and the Redis password never reach here.
 */
export function createLog(node: string, write: (line: string) => void = (l) => process.stdout.write(l)): Log {
  return (event) => write(`${new Date().toISOString()} chat[${node}] ${event.replace(/[\r\n]+/g, ' ')}\n`);
}
