import type { Command } from 'commander';
import { previewRun } from '../../incremental/run-preview.js';
import { action, withProject } from '../command-context.js';
import { color, printJson, println } from '../output.js';
import { plural } from '../../text.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('Say what the next run will read from each source and roughly what it will change — without changing anything')
    .addHelpText('after', '\nExamples:\n  refinery plan\n  refinery plan --json')
    .action(
      action(async (options) =>
        withProject(options, async ({ plan, warehouse }) => {
          const previews = await previewRun(plan, warehouse);
          if (options.json) {
            printJson(previews);
            return 0;
          }
          for (const p of previews) {
            println(`${color.bold(`bronze.${p.source}`)} reads ${p.reads}`);
            for (const f of p.files ?? []) if (f.status !== 'unchanged') println(`  ${f.status === 'new' ? color.green('+') : color.yellow('~')} ${f.path}${f.records === undefined ? '' : `: ${f.records.toLocaleString('en-US')} records`}`);
            for (const s of p.silver ?? []) println(`  → ${s.table}: about ${plural(s.inserts, 'new key')}, ${plural(s.updates, 'updated key')}, ${plural(s.quarantined, 'row')} to quarantine`);
          }
          println(color.dim('Nothing was changed. `refinery run` does it.'));
          return 0;
        }),
      ),
    );
}
