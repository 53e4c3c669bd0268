import type { ColumnInfo, Introspector, SqlSession } from '../warehouse.js';
import { DuckDBSession } from './duckdb-driver.js';
import { tableKey } from './schema-cache.js';

/**
 * Reads DuckDB's catalog functions rather than information_schema: the same names and types (information_schema is
 * a view over them), without the view's joins — these lookups run a dozen times per step, so it adds up.
 */
export class DuckDBIntrospector implements Introspector {
  constructor(private readonly session: SqlSession) {}

  async tableExists(schema: string, table: string, session: SqlSession = this.session): Promise<boolean> {
    // A table whose columns are known exists (the cache drops it when it is dropped).
    if (session instanceof DuckDBSession && session.schemaCache.get(tableKey(schema, table), session.cacheEpoch)) return true;
    const { rows } = await session.query(
      `SELECT 1 FROM duckdb_tables() WHERE schema_name = $1 AND table_name = $2 AND database_name = current_database()
       UNION ALL SELECT 1 FROM duckdb_views() WHERE schema_name = $1 AND view_name = $2 AND database_name = current_database()`,
      [schema, table],
    );
    return rows.length > 0;
  }

  async columns(schema: string, table: string, session: SqlSession = this.session): Promise<ColumnInfo[]> {
    const cache = session instanceof DuckDBSession ? { store: session.schemaCache, key: tableKey(schema, table), epoch: session.cacheEpoch } : undefined;
    const known = cache?.store.get(cache.key, cache.epoch);
    if (known) return known.map((c) => ({ ...c }));
    const { rows } = await session.query(
      `SELECT column_name, data_type FROM duckdb_columns()
       WHERE schema_name = $1 AND table_name = $2 AND database_name = current_database() ORDER BY column_index`,
      [schema, table],
    );
    const columns = rows.map((r) => ({ name: String(r.column_name), type: String(r.data_type) }));
    // A table that does not exist (yet) is not remembered: creating it needs no invalidation to be seen.
    if (cache && columns.length > 0) cache.store.set(cache.key, cache.epoch, columns.map((c) => ({ ...c })));
    return columns;
  }

  async prime(schemas: readonly string[]): Promise<void> {
    const session = this.session;
    if (!(session instanceof DuckDBSession) || schemas.length === 0) return;
    const epoch = session.cacheEpoch;
    const { rows } = await session.query(
      `SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns()
       WHERE schema_name IN (${schemas.map((_, i) => `$${i + 1}`).join(', ')}) AND database_name = current_database()
       ORDER BY schema_name, table_name, column_index`,
      [...schemas],
    );
    const byTable = new Map<string, ColumnInfo[]>();
    for (const r of rows) {
      const key = tableKey(String(r.schema_name), String(r.table_name));
      const list = byTable.get(key) ?? [];
      list.push({ name: String(r.column_name), type: String(r.data_type) });
      byTable.set(key, list);
    }
    for (const [key, columns] of byTable) session.schemaCache.set(key, epoch, columns);
  }

  async tables(schema?: string, session: SqlSession = this.session): Promise<{ schema: string; name: string }[]> {
    const { rows } = await session.query(
      `SELECT schema_name AS table_schema, table_name FROM duckdb_tables()
       WHERE database_name = current_database() ${schema ? 'AND schema_name = $1' : ''}
       ORDER BY schema_name, table_name`,
      schema ? [schema] : [],
    );
    return rows.map((r) => ({ schema: String(r.table_schema), name: String(r.table_name) }));
  }
}
