import type { Command } from 'commander';
import { relative } from 'node:path';
import { listTemplates, scaffoldProject } from '../../templates.js';
import { action } from '../command-context.js';
import { color, printJson, println } from '../output.js';

/** What to try first in a freshly scaffolded project, per template. */
const NEXT_STEPS: Record<string, readonly string[]> = {
  customers: ['refinery run            # landing → bronze → silver → gold', 'refinery show gold.customer_360', 'refinery audit          # prove no row was lost'],
  'multi-source': ['refinery run            # three systems → one golden record per customer', 'refinery show gold.customer_master', 'refinery explain customer 1001   # why each value won, and how sure we are'],
};

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('Scaffold a new project from a template')
    .argument('<dir>', 'directory to create the project in')
    .option('-t, --template <name>', `template to use (${listTemplates().join(', ')})`, 'customers')
    .option('--force', 'write into a directory that is not empty')
    .addHelpText('after', '\nExamples:\n  refinery init my-lab\n  refinery init lab3 --template multi-source')
    .action(
      action(async (options, dir: string, cmd: { template: string; force?: boolean }) => {
        const result = scaffoldProject(dir, cmd.template, { force: Boolean(cmd.force) });
        if (options.json) {
          printJson({ dir: result.dir, template: cmd.template, files: result.files });
          return 0;
        }
        const shown = relative(process.cwd(), result.dir) || '.';
        println(`${color.green('Created')} ${shown} from the ${cmd.template} template:`);
        for (const f of result.files.sort()) println(`  ${f}`);
        println();
        println('Next:');
        println(`  cd ${shown}`);
        for (const line of NEXT_STEPS[cmd.template] ?? NEXT_STEPS.customers ?? []) println(`  ${line}`);
        return 0;
      }),
    );
}
