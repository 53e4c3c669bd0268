import type { Command } from 'commander';
import { runPipeline, type RunReport } from '../../orchestrator/run-pipeline.js';
import type { OpenProject } from '../../project.js';
import { action, withProject, type GlobalOptions } from '../command-context.js';
import { color, printJson, println } from '../output.js';
import { renderRunSummary, renderStep } from '../render-run.js';
import { Spinner } from '../spinner.js';

/** The stable `--json` shape of a run: issue #5's contract plus the row accounting. */
export function runToJson(report: RunReport): Record<string, unknown> {
  return {
    runId: report.runId,
    project: report.project,
    status: report.status,
    startedAt: report.startedAt,
    endedAt: report.endedAt,
    durationMs: report.durationMs,
    steps: report.steps.map((s) => ({
      name: s.step,
      kind: s.kind,
      status: s.status,
      attempts: s.status === 'upstream_failed' ? 0 : 1,
      durationMs: s.durationMs,
      rowsIn: s.rowsIn,
      rowsWritten: s.rowsWritten,
      rowsQuarantined: s.rowsQuarantined,
      rowsSuperseded: s.rowsSuperseded,
      rowsWarned: s.rowsWarned,
      quarantinedByReason: s.quarantinedByReason,
      warningsByCheck: s.warningsByCheck,
      files: s.files,
      message: s.message ?? null,
      error: s.error ?? null,
    })),
  };
}

/** Runs the project, printing each step as it ends; shared by `run` and `demo`. */
export async function runAndRender(options: GlobalOptions, open: OpenProject, fullRefresh: boolean): Promise<RunReport> {
  const spinner = new Spinner(!options.json && Boolean(process.stderr.isTTY));
  if (!options.json) println(`${color.bold('refinery run')} ${color.dim(`· project ${open.plan.name}${fullRefresh ? ' · full refresh' : ''}`)}`);
  const report = await runPipeline(open.plan, open.warehouse, {
    fullRefresh,
    progress: (event) => {
      if (options.json) return;
      if (event.type === 'step-start') spinner.start(event.step);
      else if (event.type === 'step-detail') spinner.update(`${event.step}: ${event.detail}`);
      else {
        spinner.stop();
        println(renderStep(event.outcome));
      }
    },
  });
  spinner.stop();
  if (options.json) printJson(runToJson(report));
  else println(renderRunSummary(report, open.plan.warehouse.path));
  return report;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('Ingest new landing files and build silver and gold, in dependency order')
    .option('--full-refresh', 'rebuild every silver and gold table from all of bronze')
    .addHelpText('after', '\nExamples:\n  refinery run\n  refinery run --full-refresh --json')
    .action(
      action(async (options, cmd: { fullRefresh?: boolean }) =>
        withProject(options, async (open) => {
          const report = await runAndRender(options, open, Boolean(cmd.fullRefresh));
          return report.status === 'success' ? 0 : 1;
        }),
      ),
    );
}
