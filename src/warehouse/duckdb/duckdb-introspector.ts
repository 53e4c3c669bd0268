import type { ColumnInfo, Introspector, SqlSession } from '../warehouse.js';

export class DuckDBIntrospector implements Introspector {
  constructor(private readonly session: SqlSession) {}

  async tableExists(schema: string, table: string, session: SqlSession = this.session): Promise<boolean> {
    const { rows } = await session.query(
      `SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2 AND table_catalog = current_database()`,
      [schema, table],
    );
    return rows.length > 0;
  }

  async columns(schema: string, table: string, session: SqlSession = this.session): Promise<ColumnInfo[]> {
    const { rows } = await session.query(
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = $2 AND table_catalog = current_database() ORDER BY ordinal_position`,
      [schema, table],
    );
    return rows.map((r) => ({ name: String(r.column_name), type: String(r.data_type) }));
  }

  async tables(schema?: string, session: SqlSession = this.session): Promise<{ schema: string; name: string }[]> {
    const { rows } = await session.query(
      `SELECT table_schema, table_name FROM information_schema.tables
       WHERE table_catalog = current_database() AND table_type = 'BASE TABLE' ${schema ? 'AND table_schema = $1' : ''}
       ORDER BY table_schema, table_name`,
      schema ? [schema] : [],
    );
    return rows.map((r) => ({ schema: String(r.table_schema), name: String(r.table_name) }));
  }
}
