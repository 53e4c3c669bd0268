import type { LineageEdge, LineageGraph, TableEdge } from '../lineage/column-lineage.js';
import { columnNode, everyColumn } from '../lineage/column-lineage.js';
import { datasetResolver, type Direction } from '../lineage/lineage-graph.js';
import { color } from './output.js';

/** How one node feeds another, in one line: `aggregation` or `transformation: trim; as integer · indirect filter`. */
export function describeLink(edges: readonly LineageEdge[]): string {
  const words = (kind: 'direct' | 'indirect'): string | undefined => {
    const of = edges.filter((e) => e.kind === kind);
    if (of.length === 0) return undefined;
    const parts = [...new Set(of.map((e) => e.transformation))].sort().join(', ');
    const details = [...new Set(of.map((e) => e.description).filter((d): d is string => Boolean(d)))];
    return `${kind === 'indirect' ? 'indirect ' : ''}${parts}${details.length > 0 ? `: ${details.join('; ')}` : ''}`;
  };
  return [words('direct'), words('indirect')].filter(Boolean).join(' · ');
}

/**
 * A column's lineage for people. The tree follows the edges into (upstream) or out of (downstream) one column:
 * where its values come from, layer by layer. Edges that decide a whole table's rows (`<table>.*`: filters, joins,
 * grouping, keys) would repeat under every column, so upstream they are listed once per table after the tree.
 */
export function renderColumnLineage(graph: LineageGraph, edges: readonly LineageEdge[], root: string, direction: Direction): string {
  const datasetOf = datasetResolver(graph);
  const layers = new Map(graph.datasets.map((d) => [d.name, d.layer]));
  const columnsOf = new Map(graph.datasets.map((d) => [d.name, d.columns]));
  const label = (node: string): string => {
    if (node.endsWith('.*')) return `${node.slice(0, -2)} ${color.dim('(every column)')}`;
    const dataset = datasetOf(node);
    const layer = dataset ? layers.get(dataset) : undefined;
    return dataset && (layer === 'landing' || layer === 'source') ? `${node.slice(dataset.length + 1)} in ${dataset}` : node;
  };
  const children = (node: string): Map<string, LineageEdge[]> => {
    const out = new Map<string, LineageEdge[]>();
    const add = (key: string, e: LineageEdge): void => void out.set(key, [...(out.get(key) ?? []), e]);
    if (direction === 'upstream') {
      for (const e of edges) if (e.to === node) add(e.from, e);
    } else if (node.endsWith('.*')) {
      const table = node.slice(0, -2);
      for (const c of columnsOf.get(table) ?? []) for (const e of edges) if (e.from === columnNode(table, c)) add(e.to, e);
    } else for (const e of edges) if (e.from === node) add(e.to, e);
    return out;
  };
  const lines = [color.bold(label(root))];
  const drawn = new Set<string>([root]);
  const draw = (node: string, prefix: string): void => {
    const kids = [...children(node)].sort(([a, ea], [b, eb]) => rank(ea) - rank(eb) || a.localeCompare(b));
    kids.forEach(([child, links], i) => {
      const last = i === kids.length - 1;
      const again = drawn.has(child) && children(child).size > 0;
      lines.push(`${prefix}${last ? '└─ ' : '├─ '}${label(child)}  ${color.dim(describeLink(links))}${again ? color.dim('  (see above)') : ''}`);
      if (!drawn.has(child)) {
        drawn.add(child);
        draw(child, `${prefix}${last ? '   ' : '│  '}`);
      }
    });
  };
  draw(root, '');
  if (lines.length === 1) lines.push(color.dim(direction === 'upstream' ? '(nothing upstream: a constant, or only indirect edges filtered out)' : '(nothing reads it)'));
  if (direction === 'upstream') {
    const rows = edges.filter((e) => e.to.endsWith('.*'));
    const tables = [...new Set(rows.map((e) => e.to.slice(0, -2)))];
    if (tables.length > 0) {
      lines.push('', `Rows chosen by ${color.dim('(indirect: these decide which rows each table keeps, for every column)')}:`);
      for (const table of tables) lines.push(`  ${table}`, ...rowsBy(rows.filter((e) => e.to === everyColumn(table))).map((l) => `    ${l}`));
    }
  }
  return lines.join('\n');
}

/** `filter: bronze.orders.amount, bronze.orders.customer_id (check invalid_order)`, one line per transformation. */
function rowsBy(edges: readonly LineageEdge[]): string[] {
  const kinds = [...new Set(edges.map((e) => e.transformation))].sort();
  return kinds.map((kind) => {
    const of = edges.filter((e) => e.transformation === kind);
    const sources = [...new Set(of.map((e) => e.from))].sort().join(', ');
    const details = [...new Set(of.flatMap((e) => (e.description ? e.description.split('; ') : [])))];
    return `${kind}: ${sources}${details.length > 0 ? color.dim(` (${details.join('; ')})`) : ''}`;
  });
}

/** Direct sources first: they say where the value comes from; indirect ones say which value or rows. */
function rank(edges: readonly LineageEdge[]): number {
  return edges.some((e) => e.kind === 'direct') ? 0 : 1;
}

/** Table-level lineage: each step and what it reads or writes. */
export function renderTables(edges: readonly TableEdge[], direction: Direction): string {
  const byStep = new Map<string, TableEdge[]>();
  for (const e of edges) byStep.set(e.step, [...(byStep.get(e.step) ?? []), e]);
  return [...byStep]
    .map(([step, list]) => {
      const from = [...new Set(list.map((e) => e.from))].join(', ');
      const to = [...new Set(list.map((e) => e.to))].join(', ');
      return direction === 'upstream' ? `  ${to} ← ${from}  ${color.dim(`(step ${step})`)}` : `  ${from} → ${to}  ${color.dim(`(step ${step})`)}`;
    })
    .join('\n');
}

/** One line per column of a table: what it is made from, one layer up; then what decides its rows. */
export function renderColumnSummary(graph: LineageGraph, table: string, columns: readonly string[]): string {
  const width = Math.max(...columns.map((c) => c.length), 0);
  const lines = columns.map((c) => {
    const into = graph.edges.filter((e) => e.to === columnNode(table, c));
    const shown = into.some((e) => e.kind === 'direct') ? into.filter((e) => e.kind === 'direct') : into;
    const from = shown.map((e) => `${e.from} (${e.kind === 'indirect' ? 'indirect ' : ''}${e.transformation})`).join(', ');
    return `  ${c.padEnd(width)}  ← ${from || color.dim('no column: a constant')}`;
  });
  const rows = graph.edges.filter((e) => e.to === everyColumn(table));
  if (rows.length > 0) lines.push('', `Rows chosen by ${color.dim('(indirect, for every column)')}:`, ...rowsBy(rows).map((l) => `  ${l}`));
  return lines.join('\n');
}
