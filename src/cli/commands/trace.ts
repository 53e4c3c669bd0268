import type { Command } from 'commander';
import { traceRow, type BronzeFate, type SilverTrace, type TraceReport } from '../../lineage/row-trace.js';
import { action, withProject } from '../command-context.js';
import { color, printJson, println, table } from '../output.js';

/** `refinery trace`: the bronze rows behind one silver or gold row, and what became of each. */
export function registerTrace(program: Command): void {
  program
    .command('trace')
    .description('List the bronze rows (file, row, raw values) behind a silver or gold row, with superseded and quarantined versions')
    .argument('<table>', 'a silver or gold table, e.g. silver.customers or gold.customer_360')
    .requiredOption('-k, --key <values...>', "the row's key: a silver table's key column(s), in order; for gold, the first column unless --column says otherwise")
    .option('-c, --column <column>', 'match this column instead of the key')
    .addHelpText(
      'after',
      '\nExamples:\n  refinery trace silver.customers --key 1001\n  refinery trace gold.customer_360 --key 1001 --json\n  refinery trace silver.orders --column customer_id --key 1001\n\nEach bronze row is labelled: in silver, superseded by a later version (batch, file, row), quarantined (reason and\ndetail), or pending (in a batch the table has not processed yet).',
    )
    .action(
      action(async (options, target: string, cmd: { key: string[]; column?: string }) =>
        withProject(options, async ({ plan, warehouse }) => {
          const report = await traceRow(plan, warehouse, target, cmd.key, cmd.column);
          if (options.json) printJson(report);
          else println(renderTrace(report));
          return 0;
        }),
      ),
    );
}

export function describeFate(fate: BronzeFate): string {
  switch (fate.kind) {
    case 'in_silver':
      return 'in silver';
    case 'superseded':
      return `superseded by batch ${fate.by.batchId} (${fate.by.sourceFile} row ${fate.by.sourceRow})`;
    case 'quarantined':
      return `quarantined: ${fate.reason} — ${fate.detail}`;
    case 'replaced':
      return 'replaced: a newer version of the same file (or a newer full extract) took its place';
    case 'deleted':
      return `deleted: removed by the delete in batch ${fate.by.batchId} (${fate.by.sourceFile} row ${fate.by.sourceRow})`;
    case 'delete_marker':
      return 'a delete marker: it removed this key';
    case 'pending':
      return 'pending: in a batch the table has not processed yet (run `refinery run`)';
    case 'unaccounted':
      return 'unaccounted for (see `refinery audit`)';
  }
}

function renderTrace(report: TraceReport): string {
  const what = Object.entries(report.match).map(([k, v]) => `${k} = ${v}`).join(', ');
  const lines = [color.bold(`${report.table} where ${what}`)];
  if (report.table.startsWith('gold.')) {
    lines.push(table(report.rows), '');
    if (report.via.length > 0) lines.push('Followed to silver because:', ...report.via.map((v) => `  ${v}`), '');
  }
  for (const s of report.silver) lines.push(...renderSilver(s, report.table.startsWith('gold.')), '');
  for (const w of report.warnings) lines.push(color.yellow(`note: ${w}`));
  return lines.join('\n').trimEnd();
}

function renderSilver(trace: SilverTrace, heading: boolean): string[] {
  const what = Object.entries(trace.match).map(([k, v]) => `${k} = ${v}`).join(', ');
  const lines: string[] = [];
  if (heading) lines.push(color.bold(`${trace.table} where ${what}`));
  lines.push(trace.rows.length > 0 ? `${trace.rows.length} row${trace.rows.length === 1 ? '' : 's'} in ${trace.table} now:` : color.dim(`No row in ${trace.table} now.`));
  // The row hash is for machines; the lineage columns people need (batch, file, row) stay.
  if (trace.rows.length > 0) lines.push(table(trace.rows.map(({ _row_hash: _hash, ...rest }) => rest)));
  const bronze = trace.bronze[0]?.table ?? 'bronze';
  lines.push('', trace.bronze.length > 0 ? `${trace.bronze.length} ${bronze} row${trace.bronze.length === 1 ? '' : 's'}, oldest first:` : color.dim(`No ${bronze} rows.`));
  for (const b of trace.bronze) {
    const fate = describeFate(b.fate);
    const colored = b.fate.kind === 'in_silver' ? color.green(fate) : b.fate.kind === 'quarantined' ? color.red(fate) : color.yellow(fate);
    lines.push(`  batch ${b.batchId}  ${b.sourceFile} row ${b.sourceRow}  ${colored}`);
    lines.push(color.dim(`    ${Object.entries(b.raw).map(([k, v]) => `${k}=${v === null ? 'NULL' : JSON.stringify(v)}`).join(' ')}`));
  }
  return lines;
}
