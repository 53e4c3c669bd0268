import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { RefineryError } from '../../errors.js';
import type { PostgresSourcePlan } from '../../config/plan.js';
import { EXTRACT_NULL, type CursorKind, type DatabaseExtractor, type ExtractQuery, type TableColumn } from '../database-extractor.js';
import { clientConfig, connect, describeConnection, quoteIdent, quoteTable } from './postgres-connection.js';

export { EXTRACT_NULL, type TableColumn };

export async function tableColumns(client: pg.Client, table: string): Promise<TableColumn[]> {
  const [schema, name] = table.split('.') as [string, string];
  const { rows } = await client.query<{ column_name: string; data_type: string; is_generated: string }>(
    `SELECT column_name, data_type, is_generated FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [schema, name],
  );
  if (rows.length === 0) {
    throw new RefineryError('pipeline', { code: 'source_table_missing', message: `The table ${table} does not exist (or this user cannot see it).`, hint: 'Check the table name under sources.<name>.table and the user\'s privileges.' });
  }
  return rows.map((r) => ({ name: r.column_name, type: r.data_type, ...(r.is_generated === 'ALWAYS' ? { generated: true } : {}) }));
}

/**
 * Streams the result of a SELECT as CSV with COPY ... TO STDOUT: the server formats the rows and the bytes go
 * straight to `out`, so a million rows never become a million JavaScript objects.
 */
export async function copyTo(client: pg.Client, select: string, out: Writable): Promise<void> {
  const stream = client.query(copyStreams.to(`COPY (${select}) TO STDOUT WITH (FORMAT csv, HEADER true, NULL '${EXTRACT_NULL}')`));
  await pipeline(stream, out);
}

export function selectList(columns: readonly string[]): string {
  return columns.map(quoteIdent).join(', ');
}

export { quoteTable };

/** PostgreSQL behind the strategies' extractor interface: COPY for the rows, the server's own text for values. */
export class PostgresExtractor implements DatabaseExtractor {
  private constructor(
    /** The open connection, for what only PostgreSQL does (CDC, see pgoutput-changes.ts). */
    readonly client: pg.Client,
    readonly label: string,
    readonly table: string,
  ) {}

  static async open(source: PostgresSourcePlan): Promise<PostgresExtractor> {
    const label = `${describeConnection(clientConfig(source))}#${source.table}`;
    return new PostgresExtractor(await connect(source), label, source.table);
  }

  columns(): Promise<TableColumn[]> {
    return tableColumns(this.client, this.table);
  }

  cursorKind(column: TableColumn): CursorKind {
    if (column.type === 'timestamp without time zone') return 'timestamp';
    if (column.type === 'timestamp with time zone') return 'timestamptz';
    return column.type === 'date' ? 'date' : 'other';
  }

  async extract(query: ExtractQuery, out: Writable): Promise<void> {
    const order = query.cursor ? ` ORDER BY ${quoteIdent(query.cursor.column.name)}` : '';
    await copyTo(this.client, `SELECT ${selectList(query.columns)} FROM ${quoteTable(this.table)}${this.where(query)}${order}`, out);
  }

  async maxCursor(query: ExtractQuery): Promise<string | null> {
    if (!query.cursor) return null;
    const { rows } = await this.client.query<{ m: string | null }>(`SELECT max(${quoteIdent(query.cursor.column.name)})::text AS m FROM ${quoteTable(this.table)}${this.where(query)}`);
    return rows[0]?.m ?? null;
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }

  /** COPY takes no parameters: values are inlined as quoted literals (they came from the server itself, or the project's `since`). */
  private where(query: ExtractQuery): string {
    const c = query.cursor;
    if (!c) return '';
    const column = quoteIdent(c.column.name);
    const literal = (value: string): string => `'${value.replaceAll("'", "''")}'`;
    const conditions: string[] = [];
    // An untyped literal takes the column's type; lag needs the type spelled out for the interval arithmetic.
    if (c.from !== undefined) conditions.push(`${column} >= ${c.lagMs > 0 ? `(${literal(c.from)}::${c.column.type} - interval '${Math.round(c.lagMs)} milliseconds')` : literal(c.from)}`);
    if (c.upTo !== undefined) conditions.push(`${column} <= ${literal(c.upTo)}`);
    return conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  }
}
