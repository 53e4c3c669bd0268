import type { Command } from 'commander';
import { runPipeline, type RunReport } from '../../orchestrator/run-pipeline.js';
import type { OpenProject } from '../../project.js';
import { action, withProject, type GlobalOptions } from '../command-context.js';
import { color, printJson, println } from '../output.js';
import { renderRunSummary, renderStep } from '../render-run.js';
import { Spinner } from '../spinner.js';
import { clearLiveStatus, LiveStatusWriter } from '../../orchestrator/live-status.js';
import { afterRun } from '../../orchestrator/after-run.js';
import { selectSteps } from '../../orchestrator/selection.js';
import { systemClock } from '../../orchestrator/clock.js';

/** The stable `--json` shape of a run: issue #5's contract plus the row accounting. */
export function runToJson(report: RunReport): Record<string, unknown> {
  return {
    runId: report.runId,
    project: report.project,
    status: report.status,
    // The interrupted run this one picked up (its completed tasks were not run again), or null.
    resumesRunId: report.resumedRunId ?? null,
    startedAt: report.startedAt,
    endedAt: report.endedAt,
    durationMs: report.durationMs,
    steps: report.steps.map((s) => ({
      name: s.step,
      kind: s.kind,
      ...(s.reads ? { reads: s.reads } : {}),
      status: s.status,
      attempts: s.attempts ?? 0,
      startedAt: s.startedAt ?? null,
      endedAt: s.endedAt ?? null,
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
      ...(s.partitions ? { partitions: s.partitions } : {}),
      error: s.error ?? null,
    })),
  };
}

export interface RunCommandOptions {
  readonly fullRefresh?: boolean;
  readonly select?: readonly string[];
}

/**
 * Runs the project, printing each step as it ends; shared by `run` and `demo`. Ctrl-C cancels gracefully:
 * running steps get their abort signal and roll back; a second Ctrl-C exits at once.
 */
export async function runAndRender(options: GlobalOptions, open: OpenProject, command: RunCommandOptions = {}): Promise<RunReport> {
  const spinner = new Spinner(!options.json && Boolean(process.stderr.isTTY));
  const running = new Set<string>();
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    spinner.stop();
    process.stderr.write(color.yellow('\nCancelling: running steps are rolled back. Press Ctrl-C again to exit at once.\n'));
    controller.abort(new Error('cancelled by the user (Ctrl-C)'));
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  // A bad --select is a usage error: say so before anything runs or prints.
  if (command.select?.length) selectSteps(open.plan, command.select);
  if (!options.json) println(`${color.bold('refinery run')} ${color.dim(`· project ${open.plan.name}${command.fullRefresh ? ' · full refresh' : ''}${command.select?.length ? ` · select ${command.select.join(' ')}` : ''}`)}`);
  const liveStatus = new LiveStatusWriter(open.plan.projectDir, open.plan.concurrency, systemClock);
  try {
    const report = await runPipeline(open.plan, open.warehouse, {
      fullRefresh: Boolean(command.fullRefresh),
      ...(command.select ? { select: command.select } : {}),
      signal: controller.signal,
      onLive: (runId, live) => liveStatus.update(runId, live),
      progress: (event) => {
        if (options.json) return;
        switch (event.type) {
          case 'step-start':
            running.add(event.step);
            spinner.start([...running].join(', '));
            break;
          case 'step-detail':
            spinner.update(`${event.step}: ${event.detail}`);
            break;
          case 'step-retry':
            spinner.stop();
            println(`${color.yellow('↻')} ${event.step.padEnd(24)} attempt ${event.attempt} failed: ${event.error}; retrying at ${event.nextAttemptAt.toISOString()}`);
            break;
          case 'log':
            spinner.stop();
            println(`  ${color.dim(`${event.step} ${event.level}:`)} ${event.message}`);
            break;
          case 'step-end':
            running.delete(event.step);
            spinner.stop();
            println(renderStep(event.outcome, options.verbose));
            if (running.size > 0) spinner.start([...running].join(', '));
            break;
        }
      },
    });
    spinner.stop();
    const alerts = await afterRun(open.plan, open.warehouse, systemClock, report);
    if (!options.json) for (const alert of alerts) println(color.yellow(`alert: ${alert.text}`));
    if (options.json) printJson(runToJson(report));
    else println(renderRunSummary(report, open.plan.warehouse.path));
    return report;
  } finally {
    spinner.stop();
    liveStatus.close();
    clearLiveStatus(open.plan.projectDir);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

export function exitCodeFor(report: RunReport): number {
  return report.status === 'success' ? 0 : report.status === 'cancelled' ? 130 : 1;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('Ingest new landing files and build silver and gold, in dependency order')
    .option('--full-refresh', 'rebuild every silver and gold table from all of bronze')
    .option('-s, --select <selectors...>', 'run only these steps: name, +name (with upstream), name+ (with downstream), layer:<layer>, tag:<tag>')
    .addHelpText(
      'after',
      '\nExamples:\n  refinery run\n  refinery run --select +gold.customer_360      # it and everything it needs\n  refinery run --select silver.customers+      # it and everything that reads it\n  refinery run --full-refresh --json\n\nExit codes: 0 ok, 1 a step failed, 2 usage or config error, 130 cancelled (Ctrl-C).',
    )
    .action(
      action(async (options, cmd: { fullRefresh?: boolean; select?: string[] }) =>
        withProject(options, async (open) => exitCodeFor(await runAndRender(options, open, { fullRefresh: Boolean(cmd.fullRefresh), ...(cmd.select ? { select: cmd.select } : {}) }))),
      ),
    );
}
