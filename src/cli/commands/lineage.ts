import type { Command } from 'commander';
import { buildLineageGraph, type LineageEdge } from '../../lineage/column-lineage.js';
import { resolveTarget, walkColumns, walkTables, type Direction } from '../../lineage/lineage-graph.js';
import { action, withProject } from '../command-context.js';
import { color, printJson, println } from '../output.js';
import { renderColumnLineage, renderColumnSummary, renderTables } from '../render-lineage.js';

/** `refinery lineage`: where a table or column comes from (upstream) or what it feeds (downstream). */
export function registerLineage(program: Command): void {
  program
    .command('lineage')
    .description('Show where a table or column comes from, or what it feeds: tables, then columns, down to landing')
    .argument('<target>', '<layer>.<table> or <layer>.<table>.<column>, e.g. gold.customer_360.total_spend')
    .option('--upstream', 'what it is made from, down to bronze and landing (the default)')
    .option('--downstream', 'what it feeds, up to gold')
    .option('--direct', 'only direct edges (where values come from), not the filters, joins and keys that choose rows')
    .addHelpText(
      'after',
      '\nExamples:\n  refinery lineage gold.customer_360.total_spend\n  refinery lineage silver.orders.amount --downstream\n  refinery lineage gold.customer_360 --json\n\nEach edge is direct (identity, transformation, aggregation) or indirect (filter, join, group_by, sort, window,\nconditional, dedupe), as in OpenLineage\'s columnLineage facet. An indirect edge into <table>.* applies to every column.',
    )
    .action(
      action(async (options, target: string, cmd: { upstream?: boolean; downstream?: boolean; direct?: boolean }) =>
        withProject(options, async ({ plan, warehouse }) => {
          const graph = await buildLineageGraph(plan, warehouse);
          const { dataset, column } = resolveTarget(graph, target);
          const directions: Direction[] = cmd.downstream ? (cmd.upstream ? ['upstream', 'downstream'] : ['downstream']) : ['upstream'];
          const columns = column ? [column] : dataset.columns;
          const walked = directions.map((direction) => {
            const edges = new Set<LineageEdge>();
            for (const c of columns) for (const e of walkColumns(graph, dataset.name, c, direction, Boolean(cmd.direct))) edges.add(e);
            return { direction, edges: [...edges], tables: walkTables(graph, dataset.name, direction) };
          });
          if (options.json) {
            printJson({
              target,
              direction: directions.length === 2 ? 'both' : directions[0],
              tables: walked.flatMap((w) => w.tables),
              edges: walked.flatMap((w) => w.edges).map((e) => ({ from: e.from, to: e.to, kind: e.kind, transformation: e.transformation, step: e.step, ...(e.description ? { description: e.description } : {}) })),
              warnings: graph.warnings,
            });
            return 0;
          }
          for (const { direction, edges, tables } of walked) {
            const up = direction === 'upstream';
            println(color.bold(`${target} — ${up ? 'where it comes from' : 'what it feeds'}`));
            if (tables.length > 0) println(`Tables:\n${renderTables(tables, direction)}`);
            else println(color.dim(up ? 'Tables: nothing upstream.' : 'Tables: nothing reads it.'));
            println();
            if (column) println(renderColumnLineage(graph, edges, `${dataset.name}.${column}`, direction));
            else if (up) {
              println(`Columns of ${dataset.name}:`);
              println(renderColumnSummary(graph, dataset.name, dataset.columns));
              println(color.dim(`\nFor a column's whole tree: refinery lineage ${dataset.name}.<column>`));
            } else for (const c of dataset.columns) println(`${renderColumnLineage(graph, edges, `${dataset.name}.${c}`, direction)}\n`);
          }
          for (const w of graph.warnings) println(color.yellow(`note: ${w}`));
          return 0;
        }),
      ),
    );
}
