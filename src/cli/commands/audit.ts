import type { Command } from 'commander';
import { auditWarehouse } from '../../layers/audit.js';
import { action, withProject } from '../command-context.js';
import { color, printJson, println, table } from '../output.js';

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('Prove that no row was lost: bronze = silver + quarantined + superseded, for every silver table')
    .addHelpText('after', '\nExits 1 when any table does not balance.\n\nExamples:\n  refinery audit\n  refinery audit --json')
    .action(
      action(async (options) =>
        withProject(options, async ({ plan, warehouse }) => {
          const report = await auditWarehouse(plan, warehouse);
          if (options.json) {
            printJson({
              balanced: report.balanced,
              tables: Object.fromEntries(report.tables.map((t) => [t.table, { bronze: t.bronze, silver: t.silver, quarantined: t.quarantined, superseded: t.superseded, replaced: t.replaced, deleteMarkers: t.deleteMarkers, pending: t.pending, lost: t.lost, unexpected: t.unexpected, balanced: t.balanced, problems: t.problems }])),
              refusedFiles: report.refusedFiles,
            });
          } else if (report.tables.length === 0) {
            println('No silver tables to audit.');
          } else {
            // Replaced batches and delete markers only show up when a project has them.
            const extra = report.tables.some((t) => t.replaced > 0 || t.deleteMarkers > 0);
            println(
              table(
                report.tables.map((t) => ({
                  table: t.table,
                  bronze: t.bronze,
                  silver: t.silver,
                  quarantined: t.quarantined,
                  superseded: t.superseded,
                  ...(extra ? { replaced: t.replaced, deletes: t.deleteMarkers } : {}),
                  pending: t.pending,
                  balanced: t.balanced ? color.green('yes') : color.red('NO'),
                })),
              ),
            );
            for (const t of report.tables) for (const p of t.problems) println(color.red(`${t.table}: ${p}`));
            for (const f of report.refusedFiles) println(color.yellow(`refused file, not ingested: ${f.source} ${f.path} — ${f.reason}`));
            println(report.balanced ? color.green('Every bronze row is accounted for.') : color.red('Imbalance found: some rows are not accounted for.'));
          }
          return report.balanced ? 0 : 1;
        }),
      ),
    );
}
