import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { CONFIG_FILE_NAMES } from '../../config/load-project.js';
import { summarizeLayers } from '../../layers/layer-summary.js';
import { scaffoldProject } from '../../templates.js';
import { action, withProject } from '../command-context.js';
import { color, printJson, println, table } from '../output.js';
import { runPipeline } from '../../orchestrator/run-pipeline.js';
import { runAndRender, runToJson } from './run.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('Scaffold the customers project (if needed), run it end to end and show what each layer holds')
    .argument('[dir]', 'where the demo project lives', 'demo')
    .addHelpText('after', '\nExamples:\n  refinery demo          # ./demo\n  npm run demo           # the same, from a clone of the repository')
    .action(
      action(async (options, dir: string) => {
        const target = resolve(dir);
        const fresh = !CONFIG_FILE_NAMES.some((n) => existsSync(join(target, n)));
        if (fresh) scaffoldProject(target, 'customers');
        const shown = relative(process.cwd(), target) || '.';
        if (!options.json) println(fresh ? `${color.green('Scaffolded')} the customers template into ${shown}/\n` : `Using the existing project in ${shown}/\n`);
        return withProject({ ...options, project: target }, async (open) => {
          const report = options.json ? await runPipeline(open.plan, open.warehouse) : await runAndRender(options, open);
          const layers = await summarizeLayers(open.warehouse);
          const gold = await open.warehouse.query(`SELECT * FROM gold.customer_360 ORDER BY customer_id LIMIT 10`).catch(() => undefined);
          if (options.json) {
            printJson({ project: target, run: runToJson(report), tables: layers.tables, quarantinedByReason: layers.quarantinedByReason, gold: gold?.rows ?? [] });
            return report.status === 'success' ? 0 : 1;
          }
          println();
          println(color.bold('What each layer holds now'));
          println(table(layers.tables.map((t) => ({ table: t.table, rows: t.rows }))));
          for (const [q, reasons] of Object.entries(layers.quarantinedByReason)) {
            println(`${q}: ${Object.entries(reasons).map(([r, n]) => `${r} ${n}`).join(', ')}`);
          }
          if (gold) {
            println();
            println(color.bold('gold.customer_360'));
            println(table(gold.rows, gold.columns.map((c) => c.name)));
          }
          println();
          println(color.bold('Try next'));
          println(`  cd ${shown}`);
          println('  npx refinery show quarantine.customers        # which rows were set aside, and why (_reason, _detail)');
          println('  npx refinery audit                            # bronze = silver + quarantined + superseded');
          println('  npx refinery run                              # again: nothing new, nothing changes');
          println('  # drop another CSV into landing/customers/ and run again: only that file is ingested and merged');
          println('  # change a rule in refinery.config.ts and run again: silver is rebuilt from bronze with the new rule');
          return report.status === 'success' ? 0 : 1;
        });
      }),
    );
}
