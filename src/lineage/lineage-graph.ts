import { closest } from '../config/config-issues.js';
import { usageError } from '../errors.js';
import { columnNode, everyColumn, type LineageDataset, type LineageEdge, type LineageGraph, type TableEdge } from './column-lineage.js';

export type Direction = 'upstream' | 'downstream';

export interface LineageTarget {
  readonly dataset: LineageDataset;
  /** Absent: the whole table. */
  readonly column?: string;
}

/**
 * Finds what `refinery lineage <table>[.<column>]` names. Datasets are matched whole first (a landing glob or a
 * column may contain dots), then as `<dataset>.<column>`.
 */
export function resolveTarget(graph: LineageGraph, text: string): LineageTarget {
  const exact = graph.datasets.find((d) => d.name === text);
  if (exact) return { dataset: exact };
  const owner = [...graph.datasets].sort((a, b) => b.name.length - a.name.length).find((d) => text.startsWith(`${d.name}.`));
  const names = graph.datasets.filter((d) => d.layer !== 'external').map((d) => d.name);
  if (!owner) {
    const table = text.split('.').slice(0, 2).join('.');
    const suggestion = closest(text, names) ?? closest(table, names);
    throw usageError({
      code: 'unknown_table',
      value: text,
      message: `There is no table '${table}' in this project's lineage.`,
      allowed: names.join(', '),
      hint: suggestion ? `Did you mean '${suggestion}'?` : 'Name a table as <layer>.<table>, optionally followed by .<column>, e.g. gold.customer_360.total_spend.',
    });
  }
  const column = text.slice(owner.name.length + 1);
  if (!owner.columns.includes(column)) {
    const suggestion = closest(column, owner.columns);
    throw usageError({
      code: 'unknown_column',
      table: owner.name,
      column,
      value: column,
      message: `has no column '${column}'.`,
      allowed: owner.columns.join(', ') || '(its columns are not known yet: run the pipeline first)',
      hint: suggestion ? `Did you mean '${owner.name}.${suggestion}'?` : `See its columns with \`refinery lineage ${owner.name}\`.`,
    });
  }
  return { dataset: owner, column };
}

/**
 * Every edge reachable from a column, transitively, in breadth-first order. Upstream, a column is also reached
 * by the indirect edges into `<its table>.*`; downstream, an edge into `<table>.*` continues from each of that
 * table's columns. `directOnly` follows only direct edges: where the values come from, not what chose the rows.
 */
export function walkColumns(graph: LineageGraph, dataset: string, column: string, direction: Direction, directOnly = false): LineageEdge[] {
  const columnsOf = new Map(graph.datasets.map((d) => [d.name, d.columns]));
  const datasetOf = datasetResolver(graph);
  const byTo = group(graph.edges, (e) => e.to);
  const byFrom = group(graph.edges, (e) => e.from);
  const out: LineageEdge[] = [];
  const seenEdges = new Set<LineageEdge>();
  const seenNodes = new Set<string>();
  const queue = [columnNode(dataset, column)];
  while (queue.length > 0) {
    const node = queue.shift() as string;
    if (seenNodes.has(node)) continue;
    seenNodes.add(node);
    const owner = datasetOf(node);
    const edges = direction === 'upstream' ? [...(byTo.get(node) ?? []), ...(owner ? (byTo.get(everyColumn(owner)) ?? []) : [])] : (byFrom.get(node) ?? []);
    for (const edge of edges) {
      if (seenEdges.has(edge) || (directOnly && edge.kind !== 'direct')) continue;
      seenEdges.add(edge);
      out.push(edge);
      if (direction === 'upstream') queue.push(edge.from);
      else if (edge.to.endsWith('.*')) {
        const table = edge.to.slice(0, -2);
        for (const c of columnsOf.get(table) ?? []) queue.push(columnNode(table, c));
      } else queue.push(edge.to);
    }
  }
  return out;
}

/** The table-level edges reachable from a table, transitively. */
export function walkTables(graph: LineageGraph, table: string, direction: Direction): TableEdge[] {
  const out: TableEdge[] = [];
  const seen = new Set<string>();
  const queue = [table];
  while (queue.length > 0) {
    const node = queue.shift() as string;
    if (seen.has(node)) continue;
    seen.add(node);
    for (const edge of graph.tables.filter((e) => (direction === 'upstream' ? e.to === node : e.from === node))) {
      out.push(edge);
      queue.push(direction === 'upstream' ? edge.from : edge.to);
    }
  }
  return out;
}

/** Splits `<dataset>.<column>` by the longest dataset name that prefixes it. */
export function datasetResolver(graph: LineageGraph): (node: string) => string | undefined {
  const names = [...graph.datasets.map((d) => d.name)].sort((a, b) => b.length - a.length);
  const cache = new Map<string, string | undefined>();
  return (node) => {
    if (!cache.has(node)) cache.set(node, names.find((n) => node.startsWith(`${n}.`)));
    return cache.get(node);
  };
}

function group<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}
