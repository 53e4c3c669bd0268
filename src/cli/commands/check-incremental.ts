import type { Command } from 'commander';
import { checkIncremental } from '../../incremental/check-incremental.js';
import { action, withProject } from '../command-context.js';
import { color, formatDuration, printJson, println, table } from '../output.js';
import { Spinner } from '../spinner.js';

export function registerCheckIncremental(program: Command): void {
  program
    .command('check-incremental')
    .description('Rebuild everything from bronze in a scratch copy and check it equals the incrementally built tables')
    .addHelpText('after', '\nExits 1 if any table differs.\n\nExamples:\n  refinery check-incremental\n  refinery check-incremental --json')
    .action(
      action(async (options) =>
        withProject(options, async ({ plan, warehouse }) => {
          const spinner = new Spinner(!options.json && Boolean(process.stderr.isTTY));
          spinner.start('rebuilding silver and gold from bronze in a scratch warehouse');
          const report = await checkIncremental(plan, warehouse);
          spinner.stop();
          if (options.json) printJson(report);
          else {
            println(table(report.tables.map((t) => ({ table: t.table, incremental: t.leftRows, 'from scratch': t.rightRows, same: t.identical ? color.green('yes') : color.red('NO') }))));
            println(
              report.identical
                ? color.green(`Incremental equals a full rebuild (rebuilt in ${formatDuration(report.rebuildMs)}).`)
                : color.red('The incremental tables differ from a rebuild: run `refinery run --full-refresh` to repair them, and please report it.'),
            );
          }
          return report.identical ? 0 : 1;
        }),
      ),
    );
}
