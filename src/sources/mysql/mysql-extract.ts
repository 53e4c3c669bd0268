import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type mysql from 'mysql2';
import type { FieldPacket } from 'mysql2';
import type { MysqlSourcePlan } from '../../config/plan.js';
import { RefineryError } from '../../errors.js';
import { csvField, EXTRACT_NULL, type CursorKind, type DatabaseExtractor, type ExtractQuery, type TableColumn } from '../database-extractor.js';
import { connectMysql, describeMysqlConnection, mysqlClientConfig, quoteMysqlIdent, quoteMysqlTable, redactMysql, type MysqlClientConfig } from './mysql-connection.js';

/** MySQL's binary character set: numbers and dates carry it too, so it marks bytes only on string and blob types. */
const BINARY_CHARSET = 63;
/** mysql2 column type codes whose values are bytes when the character set is binary (BINARY, VARBINARY, BLOB...). */
const BYTE_TYPES = new Set([0x0f, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff]);
const BIT_TYPE = 0x10;
const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric']);

/**
 * MySQL/MariaDB behind the strategies' extractor interface. The driver hands rows over one by one, so they are
 * streamed (the connection pauses while the file catches up) and written straight to the extract as CSV, each
 * value as the server's own text: the same file the PostgreSQL COPY path writes, staged the same way.
 */
export class MysqlExtractor implements DatabaseExtractor {
  /** A stream cut short leaves the rest of its result on the wire: such a connection is dropped, not ended politely. */
  private broken = false;

  private constructor(
    private readonly connection: mysql.Connection,
    private readonly config: MysqlClientConfig,
    private readonly source: MysqlSourcePlan,
    readonly label: string,
  ) {}

  get table(): string {
    return this.source.table;
  }

  static async open(source: MysqlSourcePlan): Promise<MysqlExtractor> {
    const config = mysqlClientConfig(source);
    const connection = await connectMysql(source);
    return new MysqlExtractor(connection, config, source, `${describeMysqlConnection(config)}#${source.table}`);
  }

  async columns(): Promise<TableColumn[]> {
    const [schema, name] = this.table.includes('.') ? (this.table.split('.') as [string, string]) : [null, this.table];
    const rows = await this.text(
      `SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [schema, name],
    );
    if (rows.length === 0) {
      throw new RefineryError('pipeline', {
        code: 'source_table_missing',
        step: `bronze.${this.source.name}`,
        message: `The table ${this.table} does not exist in ${this.label.split('#')[0]} (or this user cannot see it).`,
        hint: this.table.includes('.') || this.config.database ? "Check the table name under sources.<name>.table and the user's privileges." : "Name the database: table: '<database>.<table>', or connection.database.",
      });
    }
    return rows.map(([column, type]) => ({ name: String(column), type: String(type).toLowerCase() }));
  }

  cursorKind(column: TableColumn): CursorKind {
    // TIMESTAMP is read in UTC (see connectMysql) and printed without a zone, like DATETIME: both compare as naive.
    if (column.type === 'datetime' || column.type === 'timestamp') return 'timestamp';
    return column.type === 'date' ? 'date' : 'other';
  }

  async extract(query: ExtractQuery, out: Writable): Promise<void> {
    const { sql, values } = this.select(query, query.columns.map(quoteMysqlIdent).join(', '));
    const order = query.cursor ? ` ORDER BY ${quoteMysqlIdent(query.cursor.column.name)}` : '';
    // typeCast false: every value arrives as the server's bytes (or null), nothing is parsed into JS types.
    const result = this.connection.query({ sql: `${sql}${order}`, values, rowsAsArray: true, typeCast: false });
    let fields: FieldPacket[] = [];
    result.on('fields', (f: FieldPacket[]) => (fields = f));
    const toCsv = new Transform({
      writableObjectMode: true,
      transform(row: (Buffer | null)[], _encoding, done) {
        done(null, `${row.map((value, i) => fieldText(value, fields[i])).join(',')}\n`);
      },
    });
    toCsv.push(`${query.columns.map(csvField).join(',')}\n`);
    const rows = result.stream({ highWaterMark: 1000 });
    // mysql2 reports a lost connection to the connection, not to a query without a callback: end the stream with it,
    // or the pipeline would wait forever.
    const lost = (error: Error): void => void rows.destroy(error);
    this.connection.on('error', lost);
    try {
      await pipeline(rows, toCsv, out);
    } catch (error) {
      this.broken = true;
      throw this.queryError(error);
    } finally {
      this.connection.off('error', lost);
    }
  }

  async maxCursor(query: ExtractQuery): Promise<string | null> {
    if (!query.cursor) return null;
    const { sql, values } = this.select(query, `max(${quoteMysqlIdent(query.cursor.column.name)})`);
    const rows = await this.text(sql, values);
    return rows[0]?.[0] ?? null;
  }

  /** How many rows the table holds (what a full or snapshot extract will read). */
  async rowCount(): Promise<number> {
    const { sql, values } = this.select({ columns: [] }, 'count(*)');
    const rows = await this.text(sql, values);
    return Number(rows[0]?.[0] ?? 0);
  }

  async close(): Promise<void> {
    const socket = (this.connection as unknown as { stream?: { destroyed?: boolean; once(event: 'close', listener: () => void): void } }).stream;
    if (!this.broken && socket && !socket.destroyed) {
      // A polite QUIT; a connection the server is closing at that moment answers with a closed socket instead.
      await new Promise<void>((resolve) => {
        socket.once('close', resolve);
        this.connection.end(() => resolve());
      });
    }
    this.connection.destroy();
  }

  private select(query: ExtractQuery, list: string): { sql: string; values: string[] } {
    const c = query.cursor;
    const conditions: string[] = [];
    const values: string[] = [];
    if (c) {
      const column = quoteMysqlIdent(c.column.name);
      // Integers compare exactly with a DECIMAL, not through a double as they would with a bare string.
      const param = INTEGER_TYPES.has(c.column.type) ? 'CAST(? AS DECIMAL(65,0))' : '?';
      if (c.from !== undefined) {
        conditions.push(`${column} >= ${c.lagMs > 0 ? `CAST(? AS DATETIME(6)) - INTERVAL ${Math.round(c.lagMs * 1000)} MICROSECOND` : param}`);
        values.push(c.from);
      }
      if (c.upTo !== undefined) {
        conditions.push(`${column} <= ${param}`);
        values.push(c.upTo);
      }
    }
    return { sql: `SELECT ${list} FROM ${quoteMysqlTable(this.table)}${conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''}`, values };
  }

  /** A small query whose values are wanted as the server's text. */
  private text(sql: string, values: (string | null)[]): Promise<(string | null)[][]> {
    return new Promise((resolve, reject) => {
      this.connection.query({ sql, values, rowsAsArray: true, typeCast: false }, (error, rows) => {
        if (error) return reject(this.queryError(error));
        resolve((rows as (Buffer | null)[][]).map((row) => row.map((v) => (v === null ? null : v.toString('utf8')))));
      });
    });
  }

  /** A lost connection is worth another attempt (source_unreachable); an SQL error is not. */
  private queryError(error: unknown): RefineryError {
    if (error instanceof RefineryError) return error;
    const e = error as { code?: string; fatal?: boolean; message?: string };
    const message = redactMysql(e.message ?? String(error), this.config);
    return new RefineryError('pipeline', {
      code: e.fatal ? 'source_unreachable' : 'source_query_failed',
      step: `bronze.${this.source.name}`,
      message: `${this.label}: ${e.fatal ? 'the connection failed' : 'the query failed'}${e.code ? ` (${e.code})` : ''}: ${message}`,
      hint: e.fatal ? 'Check that the database is up; the step is retried if it has retries.' : 'Check the table, column and cursor names under sources.<name>.',
    });
  }
}

/** One value as a CSV field: text as is, bytes as \x-prefixed hex (like PostgreSQL's bytea), BIT as its number. */
function fieldText(value: Buffer | null, field: FieldPacket | undefined): string {
  if (value === null) return EXTRACT_NULL;
  if (field?.columnType === BIT_TYPE) return BigInt(`0x${value.toString('hex') || '0'}`).toString();
  if (field?.characterSet === BINARY_CHARSET && field.columnType !== undefined && BYTE_TYPES.has(field.columnType)) return `\\x${value.toString('hex')}`;
  return csvField(value.toString('utf8'));
}
