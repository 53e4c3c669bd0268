import type { Command } from 'commander';
import { usageError } from '../../errors.js';
import { latestSchema, schemaHistory, type SchemaChange, type SchemaEntry } from '../../layers/schema-history.js';
import { action, withProject } from '../command-context.js';
import { color, printJson, println, table } from '../output.js';

const LAYERS = ['bronze', 'silver', 'gold', 'quarantine'];

/** `refinery schema <table>`: a table's columns and types now, and with --history every version and what changed it. */
export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description("Show a table's columns and schema version, or its whole schema history")
    .argument('<table>', 'layer.table, e.g. bronze.customers or silver.orders')
    .option('--history', 'every version and note: what changed, which batch or run brought it, and when')
    .addHelpText('after', '\nExamples:\n  refinery schema bronze.customers\n  refinery schema silver.orders --history\n  refinery schema gold.customer_360 --history --json')
    .action(
      action(async (options, name: string, cmd: { history?: boolean }) =>
        withProject(options, async ({ warehouse }) => {
          const [layer, tableName] = name.includes('.') ? (name.split('.', 2) as [string, string]) : ['', name];
          const tables = (await warehouse.introspector.tables()).filter((t) => LAYERS.includes(t.schema));
          if (!layer || !tables.some((t) => t.schema === layer && t.name === tableName)) {
            throw usageError({
              code: 'unknown_table',
              value: name,
              message: `There is no table '${name}' in the warehouse.`,
              allowed: tables.map((t) => `${t.schema}.${t.name}`).join(', ') || '(no tables yet — run `refinery run` first)',
              hint: layer ? 'Check the name, or run `refinery run` to build it.' : `Name the layer too, e.g. bronze.${name}.`,
            });
          }
          const columns = await warehouse.introspector.columns(layer, tableName);
          const latest = await latestSchema(warehouse, name);
          const history = cmd.history ? await schemaHistory(warehouse, name) : undefined;
          if (options.json) {
            printJson({
              table: name,
              version: latest?.version ?? null,
              columns,
              introducedBy: latest ? origin(latest) : null,
              ...(history ? { history: history.map((h) => ({ version: h.version, event: h.event, ...origin(h), columns: h.columns, changes: h.changes })) } : {}),
            });
            return 0;
          }
          const recorded = new Set((latest?.columns ?? columns).map((c) => c.name));
          println(color.bold(`${name} — ${latest ? `schema version ${latest.version}` : 'no schema history recorded yet'}`));
          if (latest) println(color.dim(`since ${describeOrigin(latest)}`));
          println(table(columns.map((c) => ({ column: c.name, type: c.type, note: recorded.has(c.name) ? '' : 'lineage' }))));
          if (history) {
            println();
            println(color.bold('History'));
            for (const h of history) println(renderEntry(h));
          } else if (latest && latest.version > 1) {
            println(color.dim(`\nFor every version and what changed: refinery schema ${name} --history`));
          }
          return 0;
        }),
      ),
    );
}

function origin(entry: SchemaEntry): Record<string, unknown> {
  return { runId: entry.runId ?? null, batchId: entry.batchId ?? null, file: entry.sourceFile ?? null, recordedAt: entry.recordedAt, reason: entry.reason ?? null };
}

function describeOrigin(entry: SchemaEntry): string {
  const parts = [entry.batchId !== undefined ? `batch ${entry.batchId}${entry.sourceFile ? ` (${entry.sourceFile})` : ''}` : undefined, entry.runId !== undefined ? `run ${entry.runId}` : undefined, entry.recordedAt.replace('T', ' ').replace(/(\.\d+)?Z?$/, '')];
  return `${parts.filter(Boolean).join(', ')}${entry.reason ? `: ${entry.reason}` : ''}`;
}

function change(c: SchemaChange): string {
  switch (c.kind) {
    case 'added':
      return `+ ${c.column} ${c.to ?? ''}`;
    case 'removed':
      return `- ${c.column} ${c.from ?? ''}`;
    case 'widened':
    case 'retyped':
      return `~ ${c.column} ${c.from} → ${c.to}`;
    case 'narrower':
      return `~ ${c.column} arrived as ${c.from}, kept ${c.to}`;
    case 'missing':
      return `? ${c.column} missing (NULL)`;
    case 'renamed':
      return `= ${c.from} stored as ${c.column}`;
    case 'discarded':
      return `× ${c.column} discarded${c.from ? ` (${c.from})` : ''}`;
    case 'quarantined':
      return `× ${c.column} rows that do not fit ${c.to} set aside`;
  }
}

function renderEntry(entry: SchemaEntry): string {
  const head = ['created', 'changed', 'rebuilt'].includes(entry.event) ? `version ${entry.version}  ${entry.event}` : `  note (v${entry.version})  ${entry.event}`;
  const lines = [`${color.bold(head)}  ${color.dim(describeOrigin(entry))}`];
  if (entry.event === 'created') lines.push(`    ${entry.columns.map((c) => `${c.name} ${c.type}`).join(', ')}`);
  for (const c of entry.changes) lines.push(`    ${change(c)}`);
  return lines.join('\n');
}
