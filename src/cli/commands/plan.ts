import type { Command } from 'commander';
import { previewRun } from '../../incremental/run-preview.js';
import { action, withProject } from '../command-context.js';
import { color, printJson, println } from '../output.js';
import { plural } from '../../text.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('Say what the next run will read from each source and roughly what it will change — without changing anything')
    .addHelpText('after', '\nExits 1 when the run would stop at a source (a truncate waiting in a CDC slot, a lost slot, a publication that\ncannot carry every change, ...), as the run itself would; 0 otherwise.\n\nExamples:\n  refinery plan\n  refinery plan --json\n  refinery plan && refinery run')
    .action(
      action(async (options) =>
        withProject(options, async ({ plan, warehouse }) => {
          const previews = await previewRun(plan, warehouse);
          // The run would fail at these sources, so the plan does too: `refinery plan && refinery run` stops here.
          const stopping = previews.filter((p) => p.stops !== undefined);
          const code = stopping.length > 0 ? 1 : 0;
          if (options.json) {
            printJson(previews);
            return code;
          }
          for (const p of previews) {
            println(`${color.bold(`bronze.${p.source}`)} reads ${p.reads}`);
            for (const f of p.files ?? []) if (f.status !== 'unchanged') println(`  ${f.status === 'new' ? color.green('+') : color.yellow('~')} ${f.path}${f.records === undefined ? '' : `: ${f.records.toLocaleString('en-US')} records`}`);
            for (const s of p.silver ?? []) println(`  → ${s.table}: about ${plural(s.inserts, 'new key')}, ${plural(s.updates, 'updated key')}, ${plural(s.quarantined, 'row')} to quarantine`);
          }
          for (const p of stopping) println(color.red(`The run would stop at bronze.${p.source} (${p.stops?.code}).`) + (p.stops?.hint ? ` ${p.stops.hint}` : ''));
          println(color.dim('Nothing was changed. `refinery run` does it.'));
          return code;
        }),
      ),
    );
}
