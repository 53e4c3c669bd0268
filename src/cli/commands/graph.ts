import type { Command } from 'commander';
import { usageError } from '../../errors.js';
import { renderGraph, type GraphFormat } from '../../orchestrator/graph-render.js';
import { action, withProject } from '../command-context.js';
import { printJson, println } from '../output.js';

export function registerGraph(program: Command): void {
  program
    .command('graph')
    .description('Draw the step graph by layer, with each step\'s status in the last run')
    .option('-f, --format <format>', 'text, mermaid or dot', 'text')
    .addHelpText('after', '\nExamples:\n  refinery graph\n  refinery graph --format mermaid > pipeline.mmd\n  refinery graph --format dot | dot -Tsvg > pipeline.svg')
    .action(
      action(async (options, cmd: { format: string }) => {
        if (!['text', 'mermaid', 'dot'].includes(cmd.format)) {
          throw usageError({ code: 'invalid_format', value: cmd.format, message: `--format '${cmd.format}' is not supported.`, allowed: 'text, mermaid, dot', hint: 'Use --format mermaid, for example.' });
        }
        return withProject(options, async ({ plan, warehouse }) => {
          const { rows } = await warehouse.query(`SELECT step, status FROM refinery.steps WHERE run_id = (SELECT max(run_id) FROM refinery.runs)`);
          const statuses = new Map(rows.map((r) => [String(r.step), String(r.status)]));
          if (options.json) {
            printJson({
              steps: plan.steps.map((s) => ({ name: s.name, layer: s.kind, dependsOn: s.dependsOn, status: statuses.get(s.name) ?? null, pool: s.pool ?? null, trigger: s.trigger, tags: s.tags })),
              edges: plan.steps.flatMap((s) => s.dependsOn.map((d) => ({ from: d, to: s.name }))),
            });
          } else println(renderGraph(plan, cmd.format as GraphFormat, statuses));
          return 0;
        });
      }),
    );
}
