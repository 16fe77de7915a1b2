import type { Command } from 'commander';
import { redisMachine } from '../../spec/types.js';
import { redisPaths } from '../../roles/redis/paths.js';
import { REDIS_PASSWORD_SECRET } from '../../roles/redis/index.js';
import { shq } from '../../transports/transport.js';
import { LabNotCreatedError } from '../../util/errors.js';
import { openLab, refuseLabctlOptions, type GlobalOptions } from '../context.js';
import { runInteractive, streamCommand } from '../stream.js';
import { connectMachine } from './ssh.js';

export function registerRedisCli(program: Command): void {
  program
    .command('redis-cli')
    .argument('[args...]', 'redis-cli arguments, e.g. INFO server; none: interactive')
    .passThroughOptions()
    .description("run the lab's own redis-cli against its Redis, authenticated without the password ever on a command line")
    .addHelpText('after', '\nExamples:\n  labctl redis-cli INFO server\n  labctl redis-cli PUBSUB NUMSUB \'ChatApp-request#/#\'\n  labctl redis-cli')
    .action(async (given: string[], _opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const args = refuseLabctlOptions('redis-cli', given);
      const lab = openLab(g, 'redis-cli', { lock: false });
      if (!lab.store.secrets.has(REDIS_PASSWORD_SECRET)) throw new LabNotCreatedError(`lab ${lab.spec.name} has no Redis yet: run labctl deploy`);
      const m = redisMachine(lab.spec);
      const access = lab.provider.access(lab, m);
      const paths = redisPaths(access.root, lab.spec.redis.version);
      // the shell reads the password file on the machine into REDISCLI_AUTH: it is in no argv that ps shows
      const command =
        `REDISCLI_AUTH="$(cat ${shq(paths.passwordFile)})" exec ${shq(`${paths.prefix}/bin/redis-cli`)} ` +
        // a cluster: -c follows MOVED/ASK to the node that serves a key's slot
        `-h ${shq(m.ip)} -p ${lab.spec.redis.port} ${lab.spec.redis.topology === 'cluster' ? '-c ' : ''}${args.map(shq).join(' ')}`;
      const full = access.asRoot ? access.asRoot(`sh -c ${shq(command)}`) : command;
      const t = await connectMachine(lab, m.name);
      try {
        if (args.length > 0 || !process.stdin.isTTY) {
          process.exitCode = await streamCommand(t, full, !process.stdin.isTTY);
        } else process.exitCode = await runInteractive(t, full);
      } finally {
        await t.close();
      }
    });
}
