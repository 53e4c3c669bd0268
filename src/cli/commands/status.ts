import type { Command } from 'commander';
import { summarizeLayers } from '../../layers/layer-summary.js';
import { listRuns } from '../../state/run-queries.js';
import { action, withProject } from '../command-context.js';
import { color, formatDuration, printJson, println, table } from '../output.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('Show the last run and what each layer holds')
    .addHelpText('after', '\nExamples:\n  refinery status\n  refinery status --json')
    .action(
      action(async (options) =>
        withProject(options, async ({ warehouse, plan }) => {
          const [last] = await listRuns(warehouse, 1);
          const layers = await summarizeLayers(warehouse);
          if (options.json) {
            printJson({ project: plan.name, warehouse: plan.warehouse.path, lastRun: last ?? null, tables: layers.tables, quarantinedByReason: layers.quarantinedByReason });
            return 0;
          }
          println(`${color.bold(plan.name)} ${color.dim(`· ${plan.warehouse.path}`)}`);
          if (!last) println('No runs yet. Run `refinery run` to build the layers.');
          else {
            const statusText = last.status === 'success' ? color.green(last.status) : color.red(last.status);
            println(`Last run: ${last.runId} ${statusText} at ${last.startedAt}${last.durationMs === null ? '' : ` in ${formatDuration(last.durationMs)}`}`);
            if (last.error) println(color.red(`  ${last.error}`));
          }
          if (layers.tables.length > 0) {
            println();
            println(table(layers.tables.map((t) => ({ table: t.table, rows: t.rows }))));
          }
          return 0;
        }),
      ),
    );
}
