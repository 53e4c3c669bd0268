import type { Command } from 'commander';
import { usageError } from '../../errors.js';
import { action, withProject } from '../command-context.js';
import { color, printJson, println, table } from '../output.js';

const LAYERS = ['bronze', 'silver', 'gold', 'quarantine', 'refinery'];

export function registerShow(program: Command): void {
  program
    .command('show')
    .description('Print the first rows of a table')
    .argument('<table>', 'layer.table, e.g. silver.customers or quarantine.customers')
    .option('-n, --limit <n>', 'how many rows', '20')
    .addHelpText('after', '\nExamples:\n  refinery show gold.customer_360\n  refinery show quarantine.customers --limit 5 --json')
    .action(
      action(async (options, name: string, cmd: { limit: string }) => {
        const limit = Number(cmd.limit);
        if (!Number.isInteger(limit) || limit < 0) {
          throw usageError({ code: 'invalid_limit', value: cmd.limit, message: `--limit '${cmd.limit}' is not a whole number.`, allowed: '0, 1, 2, ...', hint: 'Pass --limit 20, for example.' });
        }
        return withProject(options, async ({ warehouse }) => {
          const [layer, tableName] = name.includes('.') ? (name.split('.', 2) as [string, string]) : ['', name];
          const tables = await warehouse.introspector.tables();
          const known = tables.filter((t) => LAYERS.includes(t.schema)).map((t) => `${t.schema}.${t.name}`);
          if (!layer || !tables.some((t) => t.schema === layer && t.name === tableName)) {
            throw usageError({
              code: 'unknown_table',
              value: name,
              message: `There is no table '${name}' in the warehouse.`,
              allowed: known.join(', ') || '(no tables yet — run `refinery run` first)',
              hint: layer ? 'Check the name, or run `refinery run` to build it.' : `Name the layer too, e.g. silver.${name}.`,
            });
          }
          const d = warehouse.dialect;
          const { rows: countRows } = await warehouse.query(`SELECT count(*) AS n FROM ${d.table(layer, tableName)}`);
          const total = Number(countRows[0]?.n ?? 0);
          const result = await warehouse.query(`SELECT * FROM ${d.table(layer, tableName)} LIMIT ${limit}`);
          if (options.json) printJson(result.rows);
          else {
            println(table(result.rows, result.columns.map((c) => c.name)));
            println(color.dim(`${result.rows.length} of ${total} row${total === 1 ? '' : 's'} in ${name}`));
          }
          return 0;
        });
      }),
    );
}
