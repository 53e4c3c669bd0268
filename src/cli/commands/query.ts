import type { Command } from 'commander';
import { usageError } from '../../errors.js';
import { EngineError } from '../../warehouse/engine-error.js';
import { action, withProject } from '../command-context.js';
import { color, printJson, println, table } from '../output.js';

export function registerQuery(program: Command): void {
  program
    .command('query')
    .description('Run SQL against the warehouse and print the result')
    .argument('<sql>', 'the SQL to run, e.g. "SELECT * FROM gold.customer_360"')
    .addHelpText('after', `\nExamples:\n  refinery query "SELECT _reason, count(*) FROM quarantine.customers GROUP BY 1"\n  refinery query "SELECT * FROM silver.customers" --json`)
    .action(
      action(async (options, sql: string) =>
        withProject(options, async ({ warehouse }) => {
          let result;
          try {
            result = await warehouse.query(sql);
          } catch (error) {
            // A query that does not run is the user's SQL to fix, not a pipeline failure.
            if (error instanceof EngineError) {
              throw usageError({ code: 'query_failed', message: error.engineMessage, hint: 'Fix the SQL. `refinery status` lists the tables; `refinery show <layer.table>` shows their columns.' });
            }
            throw error;
          }
          if (options.json) printJson(result.rows);
          else {
            println(table(result.rows, result.columns.map((c) => c.name)));
            println(color.dim(`${result.rows.length} row${result.rows.length === 1 ? '' : 's'}`));
          }
          return 0;
        }),
      ),
    );
}
