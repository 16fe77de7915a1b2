import type { Command } from 'commander';
import { registerValidate } from './validate.js';
import { registerPlan } from './plan.js';
import { registerCreate } from './create.js';
import { registerDeploy } from './deploy.js';
import { registerVerify } from './verify.js';
import { registerUp } from './up.js';
import { registerWatch } from './watch.js';
import { registerRedisCli } from './redis-cli.js';
import { registerStatus } from './status.js';
import { registerSsh } from './ssh.js';
import { registerTeardown } from './teardown.js';

export function registerCommands(program: Command): void {
  registerUp(program);
  registerCreate(program);
  registerDeploy(program);
  registerVerify(program);
  registerStatus(program);
  registerPlan(program);
  registerValidate(program);
  registerWatch(program);
  registerRedisCli(program);
  registerSsh(program);
  registerTeardown(program);
}
