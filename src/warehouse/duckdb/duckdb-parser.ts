import type { SelectLineage, SqlParser, SqlSession } from '../warehouse.js';
import { DUCKDB_AGGREGATES } from './duckdb-aggregates.js';
import { LineageWalker } from './duckdb-lineage.js';

interface Node {
  [key: string]: unknown;
}

/** Collects `schema.table` references from DuckDB's serialised parse tree, skipping names bound to CTEs. */
function collectTables(node: unknown, cteNames: Set<string>, out: Set<string>): void {
  if (Array.isArray(node)) {
    for (const child of node) collectTables(child, cteNames, out);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const n = node as Node;
  const cteMap = (n.cte_map as { map?: { key: string }[] } | undefined)?.map;
  const scoped = cteMap && cteMap.length > 0 ? new Set([...cteNames, ...cteMap.map((e) => e.key.toLowerCase())]) : cteNames;
  if (n.type === 'BASE_TABLE' && typeof n.table_name === 'string') {
    const schema = typeof n.schema_name === 'string' ? n.schema_name : '';
    const name = n.table_name;
    if (schema !== '' || !scoped.has(name.toLowerCase())) out.add(schema ? `${schema}.${name}` : name);
  }
  for (const value of Object.values(n)) collectTables(value, scoped, out);
}

export class DuckDBParser implements SqlParser {
  constructor(private readonly session: SqlSession) {}

  async referencedTables(sql: string): Promise<{ tables: string[] } | { error: string }> {
    const tree = await this.parse(sql);
    if ('error' in tree) return tree;
    const out = new Set<string>();
    collectTables(tree.statements, new Set(), out);
    return { tables: [...out].sort() };
  }

  async selectLineage(sql: string, tables: ReadonlyMap<string, readonly string[]>): Promise<SelectLineage | { error: string }> {
    const tree = await this.parse(sql);
    if ('error' in tree) return tree;
    const node = (tree.statements[0] as { node?: Node } | undefined)?.node;
    if (!node) return { error: 'a model must be exactly one SELECT statement' };
    const lineage = new LineageWalker(tables, DUCKDB_AGGREGATES).lineage(node);
    // The engine names unaliased expressions (`count(o.order_id)`); ask it, when the tables exist to bind against.
    const names = await this.outputNames(sql);
    if (!names || names.length !== lineage.columns.length) {
      const unnamed = lineage.columns.filter((c) => c.name === '').length;
      const columns = lineage.columns.map((c, i) => (c.name === '' ? { ...c, name: `column${i}` } : c));
      return { ...lineage, columns, warnings: unnamed > 0 ? [...lineage.warnings, `${unnamed} unnamed column(s) are numbered; give them an alias (AS name)`] : lineage.warnings };
    }
    return { ...lineage, columns: lineage.columns.map((c, i) => ({ ...c, name: names[i] as string })) };
  }

  private async parse(sql: string): Promise<{ statements: unknown[] } | { error: string }> {
    const { rows } = await this.session.query('SELECT json_serialize_sql(CAST($1 AS VARCHAR)) AS tree', [sql]);
    const tree = JSON.parse(String(rows[0]?.tree ?? '{}')) as { error?: boolean; error_message?: string; statements?: unknown[] };
    if (tree.error) return { error: tree.error_message ?? 'the SQL could not be parsed' };
    if (!tree.statements || tree.statements.length !== 1) return { error: 'a model must be exactly one SELECT statement' };
    return { statements: tree.statements };
  }

  private async outputNames(sql: string): Promise<string[] | undefined> {
    try {
      const { rows } = await this.session.query(`DESCRIBE (\n${sql.trim().replace(/;\s*$/, '')}\n)`);
      return rows.map((r) => String(r.column_name));
    } catch {
      return undefined;
    }
  }
}
