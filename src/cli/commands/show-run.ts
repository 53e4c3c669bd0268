import type { Command } from 'commander';
import { usageError } from '../../errors.js';
import { listRuns, listSteps } from '../../state/run-queries.js';
import { action, withProject } from '../command-context.js';
import { color, formatDuration, printJson, println, table } from '../output.js';

export function registerShowRun(program: Command): void {
  program
    .command('show-run')
    .description('Show one run: every step with its status, attempts, duration and rows')
    .argument('[id]', 'run id (default: the last run)')
    .addHelpText('after', '\nExamples:\n  refinery show-run\n  refinery show-run 12 --json')
    .action(
      action(async (options, id?: string) => {
        const runId = id === undefined ? undefined : Number(id);
        if (runId !== undefined && !Number.isInteger(runId)) throw usageError({ code: 'invalid_run', value: id, message: `'${id}' is not a run id.`, hint: 'List runs with `refinery history`.' });
        return withProject(options, async ({ warehouse }) => {
          const runs = await listRuns(warehouse, 1_000_000);
          const run = runId === undefined ? runs[0] : runs.find((r) => r.runId === runId);
          if (!run) throw usageError({ code: 'unknown_run', value: id ?? null, message: runId === undefined ? 'There are no runs yet.' : `There is no run ${runId}.`, hint: 'List runs with `refinery history`.' });
          const steps = await listSteps(warehouse, [run.runId]);
          const { rows: attempts } = await warehouse.query(`SELECT step, attempt, error, next_attempt_at FROM refinery.attempts WHERE run_id = $1 ORDER BY step, attempt`, [run.runId]);
          if (options.json) {
            printJson({ ...run, steps: steps.map((s) => ({ ...s, failedAttempts: attempts.filter((a) => a.step === s.step) })) });
            return 0;
          }
          println(`${color.bold(`Run ${run.runId}`)} ${run.status === 'success' ? color.green(run.status) : color.red(run.status)} · started ${run.startedAt}${run.durationMs === null ? '' : ` · ${formatDuration(run.durationMs)}`}`);
          if (run.error) println(color.red(run.error));
          println(
            table(
              steps.map((s) => ({
                step: s.step,
                status: s.status,
                attempts: s.attempts,
                ms: Math.round(Number(s.duration_ms)),
                in: s.rows_in,
                written: s.rows_written,
                quarantined: s.rows_quarantined,
                superseded: s.rows_superseded,
                message: s.message,
              })),
            ),
          );
          for (const a of attempts) println(color.dim(`${String(a.step)} attempt ${String(a.attempt)} failed: ${String(a.error)}`));
          for (const s of steps) {
            const logs = (s.details as { logs?: { at: string; level: string; message: string }[] }).logs ?? [];
            for (const line of logs) println(`${color.dim(`${line.at} ${String(s.step)} ${line.level}:`)} ${line.message}`);
          }
          return 0;
        });
      }),
    );
}
