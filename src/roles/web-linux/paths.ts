import path from 'node:path';

export function webPaths(root: string, bundleHash: string) {
  const p = (...parts: string[]) => path.posix.join(root || '/', ...parts);
  return {
    appDir: p('opt/labctl-chat', bundleHash.slice(0, 12)),
    envFile: p('etc/labctl-chat/app.env'),
    passwordFile: p('etc/labctl-chat/redis.password'),
    pidFile: p('run/labctl-chat/app.pid'),
    logFile: p('var/log/labctl-chat/app.log'),
    /** what the running app was started with: bundle hash + settings hash */
    running: p('run/labctl-chat/deployed.sha256'),
  };
}
