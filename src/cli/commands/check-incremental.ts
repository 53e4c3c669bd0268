import type { Command } from 'commander';
import { checkIncremental } from '../../incremental/check-incremental.js';
import { action, withProject } from '../command-context.js';
import { color, formatDuration, plural, printJson, println, table } from '../output.js';
import { Spinner } from '../spinner.js';

export function registerCheckIncremental(program: Command): void {
  program
    .command('check-incremental')
    .description('Rebuild everything from bronze in a scratch copy and check it equals the incrementally built tables')
    .addHelpText('after', '\nExits 1 if any table differs, or waits for a build because an input changed after it was built (after `refinery run --select`).\nSuch tables are not checked: run without --select first.\n\nExamples:\n  refinery check-incremental\n  refinery check-incremental --json')
    .action(
      action(async (options) =>
        withProject(options, async ({ plan, warehouse }) => {
          const spinner = new Spinner(!options.json && Boolean(process.stderr.isTTY));
          spinner.start('rebuilding silver and gold from bronze in a scratch warehouse');
          const report = await checkIncremental(plan, warehouse);
          spinner.stop();
          if (options.json) printJson(report);
          else {
            println(table(report.tables.map((t) => ({ table: t.table, incremental: t.leftRows, 'from scratch': t.rightRows, same: t.waiting ? color.yellow('waiting') : t.identical ? color.green('yes') : color.red('NO') }))));
            for (const w of report.waiting) println(color.yellow(`${w.message}.`));
            if (!report.identical) println(color.red('The incremental tables differ from a rebuild: run `refinery run --full-refresh` to repair them, and please report it.'));
            else if (report.waiting.length > 0) println(color.yellow(`Not checked: ${plural(report.waiting.length, 'step')} ${report.waiting.length === 1 ? 'waits' : 'wait'} for a build. The other tables equal a full rebuild (rebuilt in ${formatDuration(report.rebuildMs)}).`));
            else println(color.green(`Incremental equals a full rebuild (rebuilt in ${formatDuration(report.rebuildMs)}).`));
          }
          return report.identical && report.waiting.length === 0 ? 0 : 1;
        }),
      ),
    );
}
