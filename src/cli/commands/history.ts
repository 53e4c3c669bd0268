import type { Command } from 'commander';
import { usageError } from '../../errors.js';
import { action, withProject } from '../command-context.js';
import { listRuns, listSteps } from '../../state/run-queries.js';
import { color, formatDuration, printJson, println, table } from '../output.js';

export function registerHistory(program: Command): void {
  program
    .command('history')
    .description('List past runs with their duration and rows moved')
    .option('-n, --limit <n>', 'how many runs', '20')
    .addHelpText('after', '\nExamples:\n  refinery history\n  refinery history --limit 5 --json')
    .action(
      action(async (options, cmd: { limit: string }) => {
        const limit = Number(cmd.limit);
        if (!Number.isInteger(limit) || limit <= 0) {
          throw usageError({ code: 'invalid_limit', value: cmd.limit, message: `--limit '${cmd.limit}' is not a positive whole number.`, hint: 'Pass --limit 20, for example.' });
        }
        return withProject(options, async ({ warehouse }) => {
          const runs = await listRuns(warehouse, limit);
          if (options.json) {
            const steps = await listSteps(warehouse, runs.map((r) => r.runId));
            printJson(runs.map((r) => ({ ...r, steps: steps.filter((s) => Number(s.run_id) === r.runId) })));
            return 0;
          }
          if (runs.length === 0) println('No runs yet.');
          else
            println(
              table(
                runs.map((r) => ({
                  run: r.runId,
                  status: r.status === 'success' ? color.green(r.status) : color.red(r.status),
                  started_at: r.startedAt,
                  duration: r.durationMs === null ? '' : formatDuration(r.durationMs),
                  ingested: r.rowsIngested,
                  silver_written: r.silverWritten,
                  quarantined: r.quarantined,
                })),
              ),
            );
          return 0;
        });
      }),
    );
}
