import type { Command } from 'commander';
import { planSteps } from '../../engine/runner.js';
import { openLab, type GlobalOptions } from '../context.js';
import { print, printJson } from '../output.js';
import { labSteps } from '../lifecycle.js';
import { CLUSTER_BUS_OFFSET, clusterMasters, redisMachines, type LabSpec } from '../../spec/types.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('list every step create and deploy would run, and whether each is already done')
    .addHelpText('after', '\nExamples:\n  labctl plan\n  labctl plan --provider hyperv --json')
    .action(async (_opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const lab = openLab(g, 'plan', { lock: false });
      let planned;
      try {
        planned = await planSteps(labSteps(lab), lab.store);
      } finally {
        await lab.close();
      }
      if (g.json) {
        printJson({
          lab: lab.spec.name,
          provider: lab.provider.name,
          redis: redisLayout(lab.spec),
          steps: planned.map((s) => ({
            id: s.id,
            machine: s.machine ?? null,
            title: s.title,
            status: s.status,
            reason: s.reason,
            ...(s.action?.script ? { script: s.action.script, params: s.action.params ?? {} } : {}),
            ...(s.action?.command ? { command: s.action.command } : {}),
          })),
        });
        return;
      }
      print(`plan for lab ${lab.spec.name} (${lab.provider.name})`);
      const layout = redisLayout(lab.spec);
      if (layout.topology === 'cluster') {
        const replicas = layout.replicas.length ? `, replicas ${layout.replicas.map((r) => `${r.name} of ${r.of}`).join(', ')}` : ', no replicas';
        print(`  redis cluster: masters ${layout.masters.map((m) => `${m.name} ${m.ip}`).join(', ')}${replicas}; port ${lab.spec.redis.port}, bus ${lab.spec.redis.port + CLUSTER_BUS_OFFSET}`);
      }
      for (const s of planned) {
        const mark = s.status === 'done' ? '✓' : s.status === 'n/a' ? '-' : '•';
        print(`  ${mark} ${s.title}  [${s.reason}]`);
        if (s.action?.script) {
          print(`      ${s.action.script} ${formatParams(s.action.params ?? {})}`);
        } else if (s.action?.command) print(`      $ ${s.action.command}`);
      }
      const todo = planned.filter((s) => s.status === 'todo').length;
      print(todo === 0 ? 'nothing to do' : `${todo} step${todo === 1 ? '' : 's'} to do`);
    });
}

/** Parameters as PowerShell would read them, on one line (a line break shows as `n). */
function formatParams(params: Record<string, unknown>): string {
  const str = (v: string) =>
    /[\r\n]/.test(v) ? `"${v.replace(/[`"$]/g, '`$&').replace(/\r/g, '`r').replace(/\n/g, '`n')}"` : `'${v.replace(/'/g, "''")}'`;
  return Object.entries(params)
    .map(([k, v]) => `-${k} ${typeof v === 'string' ? str(v) : typeof v === 'boolean' ? `$${v}` : JSON.stringify(v)}`)
    .join(' ');
}

/**
 * The redis machines and what each will be: with a cluster, the masters (the first ones) and each
 * replica with its master (i mod masters, as templates/redis/cluster-create.sh adds them).
 */
function redisLayout(spec: LabSpec) {
  const nodes = redisMachines(spec).map((m) => ({ name: m.name, ip: m.ip }));
  if (spec.redis.topology !== 'cluster') return { topology: 'single' as const, machine: nodes[0] };
  const masters = clusterMasters(spec).map((m) => ({ name: m.name, ip: m.ip }));
  const replicas = nodes.slice(masters.length).map((r, i) => ({ ...r, of: masters[i % masters.length]!.name }));
  return { topology: 'cluster' as const, masters, replicas };
}
