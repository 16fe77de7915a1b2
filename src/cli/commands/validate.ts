import type { Command } from 'commander';
import { loadSpec } from '../../spec/load.js';
import { SpecError } from '../../util/errors.js';
import { providerFor } from '../../providers/index.js';
import { resolveProviderName, resolveSpecPath, type GlobalOptions } from '../context.js';
import { print, printJson } from '../output.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a lab spec: prints ok, or every problem as FILE:field: what is wrong')
    .addHelpText('after', '\nExamples:\n  labctl validate\n  labctl validate --spec my-lab.yaml --json')
    .action(async (_opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const file = resolveSpecPath(g);
      let problems: string[] = [];
      let name: string | undefined;
      try {
        const spec = loadSpec(file);
        name = spec.name;
        problems = providerFor(resolveProviderName(g, spec)).validate(spec).map((p) => `${file}:${p.field}: ${p.message}`);
      } catch (err) {
        if (!(err instanceof SpecError)) throw err;
        problems = err.problems.flatMap((p) => p.split('\n'));
      }
      if (g.json) printJson({ ok: problems.length === 0, ...(problems.length > 0 ? { code: 'SPEC_INVALID' } : {}), file, lab: name, problems });
      else if (problems.length === 0) print('ok');
      else for (const p of problems) print(p);
      if (problems.length > 0) process.exitCode = 2;
    });
}
