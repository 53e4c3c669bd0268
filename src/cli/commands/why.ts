import type { Command } from 'commander';
import { closest } from '../../config/config-issues.js';
import { usageError } from '../../errors.js';
import { explainLive, explainRecorded } from '../../orchestrator/explain-step.js';
import { readLiveStatus } from '../../orchestrator/live-status.js';
import { action, withProject } from '../command-context.js';
import { printJson, println } from '../output.js';

export function registerWhy(program: Command): void {
  program
    .command('why')
    .description('Say in one sentence why a step is waiting, skipped, failed or did not run')
    .argument('<step>', 'a step: silver.customers, gold.customer_360, or a task name')
    .option('--run <id>', 'a past run (default: the run in progress, else the last one)')
    .addHelpText('after', '\nExamples:\n  refinery why gold.customer_360\n  refinery why fetch-rates --run 12 --json')
    .action(
      action(async (options, step: string, cmd: { run?: string }) => {
        const runId = cmd.run === undefined ? undefined : Number(cmd.run);
        if (runId !== undefined && !Number.isInteger(runId)) throw usageError({ code: 'invalid_run', value: cmd.run, message: `--run '${cmd.run}' is not a run id.`, hint: 'List runs with `refinery history`.' });
        // While a run holds the warehouse, the live status file says where every step is.
        const live = readLiveStatus(options.project);
        const liveState = live?.steps[step];
        if (live && liveState && (runId === undefined || runId === live.runId)) {
          const explanation = { ...explainLive(step, liveState, new Date(), live.concurrency), runId: live.runId };
          if (options.json) printJson(explanation);
          else println(explanation.sentence);
          return 0;
        }
        return withProject(options, async ({ plan, warehouse }) => {
          if (!plan.steps.some((s) => s.name === step)) {
            const names = plan.steps.map((s) => s.name);
            const suggestion = closest(step, names);
            throw usageError({ code: 'unknown_step', value: step, message: `There is no step '${step}'.`, allowed: names.join(', '), hint: suggestion ? `Did you mean '${suggestion}'?` : 'Tables are named <layer>.<table>; tasks by their key.' });
          }
          const explanation = await explainRecorded(warehouse, plan, step, runId);
          if (options.json) printJson(explanation);
          else println(explanation.sentence);
          return 0;
        });
      }),
    );
}
