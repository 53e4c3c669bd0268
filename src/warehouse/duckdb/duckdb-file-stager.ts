import { RefineryError, errorMessage } from '../../errors.js';
import { EngineError } from '../engine-error.js';
import type { ColumnInfo, FileStager, RejectedRecord, SqlSession, StagedFile, StageRequest } from '../warehouse.js';
import type { DuckDBDialect } from './duckdb-dialect.js';

/**
 * Stages landing files with DuckDB's own readers (read_csv, read_json, read_parquet): the file is parsed by the
 * engine, in parallel, straight into a temporary table. Rows the CSV reader cannot split are collected through
 * `store_rejects` instead of failing the whole file, so the caller can keep them (as raw lines) and quarantine them.
 */
export class DuckDBFileStager implements FileStager {
  constructor(private readonly dialect: DuckDBDialect) {}

  async stage(session: SqlSession, request: StageRequest): Promise<StagedFile> {
    switch (request.format) {
      case 'csv':
        return this.stageCsv(session, request);
      case 'json':
      case 'jsonl':
        return this.stageJson(session, request);
      case 'parquet':
        return this.stageParquet(session, request);
    }
  }

  private async stageCsv(session: SqlSession, request: StageRequest): Promise<StagedFile> {
    const d = this.dialect;
    const columns = request.columns ?? [];
    const columnSpec = `{${columns.map((c) => `${d.literal(c)}: 'VARCHAR'`).join(', ')}}`;
    const rejectsTable = `${request.stagingTable}_rejects`;
    const rejectsScan = `${request.stagingTable}_scans`;
    const { csv } = request;
    // nullstr chr(0) and allow_quoted_nulls=false keep an empty field as '' — bronze holds what the file says.
    await session.execute(
      `${request.append ? `INSERT INTO ${d.quoteIdent(request.stagingTable)}` : `CREATE TEMP TABLE ${d.quoteIdent(request.stagingTable)} AS`} SELECT * FROM read_csv(${d.literal(request.file)},
         header = true, auto_detect = false, columns = ${columnSpec},
         delim = ${d.literal(csv.delimiter)}, quote = ${d.literal(csv.quote)}, escape = ${d.literal(csv.escape)},
         encoding = ${d.literal(csv.encoding)}, nullstr = ${csv.nullString === undefined ? 'chr(0)' : d.literal(csv.nullString)}, allow_quoted_nulls = false, strict_mode = true,
         store_rejects = true, rejects_table = ${d.literal(rejectsTable)}, rejects_scan = ${d.literal(rejectsScan)})`,
    );
    // Rows of a table created inside a transaction get row ids from a large base, in insertion (= file) order.
    // One query for the count and the rejects (the count's row is the one with `n`).
    const { rows: read } = await session.query(
      `SELECT NULL AS offset, NULL AS kind, NULL AS message, NULL AS raw, count(*) AS n, coalesce(min(rowid), 0) AS base, NULL AS scan FROM ${d.quoteIdent(request.stagingTable)}
       UNION ALL
       SELECT line_byte_position, first(error_type ORDER BY column_idx), string_agg(DISTINCT error_message, '; '), first(csv_line), NULL, NULL, scan_id
       FROM ${d.quoteIdent(rejectsTable)} GROUP BY scan_id, line_byte_position`,
    );
    const counted = read.filter((r) => r.n !== null);
    // Appended parts scan one after the other: their rejects come in scan order, then file order.
    const rejectRows = read.filter((r) => r.n === null).sort((a, b) => Number(a.scan) - Number(b.scan) || Number(a.offset) - Number(b.offset));
    // The rejects tables are temporary, named after this staging table, and small: they go with the connection.
    const rejects: RejectedRecord[] = rejectRows.map((r) => ({
      byteOffset: Number(r.offset),
      kind: String(r.kind),
      message: String(r.message),
      rawLine: String(r.raw ?? ''),
    }));
    return {
      columns: columns.map((name) => ({ name, type: 'VARCHAR' })),
      rows: Number(counted[0]?.n ?? 0),
      rowIndexExpr: `(rowid - ${BigInt(String(counted[0]?.base ?? 0))})`,
      rejects,
    };
  }

  private async stageJson(session: SqlSession, request: StageRequest): Promise<StagedFile> {
    const d = this.dialect;
    const format = request.format === 'jsonl' ? 'newline_delimited' : 'array';
    const reader = (columns?: string) =>
      `read_json(${d.literal(request.file)}, format = ${d.literal(format)}, records = true, ${columns ? `columns = ${columns}` : 'sample_size = -1, maximum_depth = 1'})`;
    let names: string[];
    try {
      // The keys as written: DuckDB folds 'ID' and 'id' into one column and would drop a value without a word.
      const objects = `read_json_objects(${d.literal(request.file)}, format = ${d.literal(format)})`;
      const { rows: counted } = await session.query(`SELECT count(*) AS n FROM ${objects}`);
      if (Number(counted[0]?.n ?? 0) === 0) {
        await session.execute(`CREATE TEMP TABLE ${d.quoteIdent(request.stagingTable)} (__empty INTEGER)`);
        return { columns: [], rows: 0, rowIndexExpr: 'rowid', rejects: [] };
      }
      const { rows: keys } = await session.query(`SELECT DISTINCT unnest(json_keys(json)) AS k FROM ${objects}`);
      const seen = new Map<string, string>();
      for (const key of keys.map((r) => String(r.k))) {
        const other = seen.get(key.toLowerCase());
        if (other !== undefined) {
          throw new RefineryError('input', {
            code: 'json_keys_differ_in_case',
            file: request.file,
            message: `the keys '${other}' and '${key}' differ only in case; column names are case-insensitive, so one would overwrite the other`,
            hint: 'Rename one of the keys in the file, then land it again.',
          });
        }
        seen.set(key.toLowerCase(), key);
      }
      const { rows } = await session.query(`DESCRIBE SELECT * FROM ${reader()}`);
      names = rows.map((r) => String(r.column_name));
    } catch (error) {
      if (error instanceof RefineryError && !(error instanceof EngineError)) throw error;
      throw jsonError(request.file, error);
    }
    // Every field is kept as text (nested values as their JSON text), like CSV, so typing happens once, in silver.
    const spec = `{${names.map((n) => `${d.literal(n)}: 'VARCHAR'`).join(', ')}}`;
    try {
      await session.execute(`CREATE TEMP TABLE ${d.quoteIdent(request.stagingTable)} AS SELECT * FROM ${reader(spec)}`);
    } catch (error) {
      throw jsonError(request.file, error);
    }
    const { rows } = await session.query(`SELECT count(*) AS n, coalesce(min(rowid), 0) AS base FROM ${d.quoteIdent(request.stagingTable)}`);
    return {
      columns: names.map((name) => ({ name, type: 'VARCHAR' })),
      rows: Number(rows[0]?.n ?? 0),
      rowIndexExpr: `(rowid - ${BigInt(String(rows[0]?.base ?? 0))})`,
      rejects: [],
    };
  }

  private async stageParquet(session: SqlSession, request: StageRequest): Promise<StagedFile> {
    const d = this.dialect;
    try {
      await session.execute(
        `CREATE TEMP TABLE ${d.quoteIdent(request.stagingTable)} AS SELECT * FROM read_parquet(${d.literal(request.file)}, file_row_number = true)`,
      );
    } catch (error) {
      // The engine's message repeats the path and the SQL: keep only what it says about the file.
      const reason = errorMessage(error instanceof EngineError ? error.engineMessage : error).split('\n')[0]?.replace(/^[A-Za-z ]+Error: /, '').replace(/ ?"[^"]*"/g, '') ?? 'unreadable';
      throw new RefineryError('input', {
        code: 'parquet_unreadable',
        file: request.file,
        message: `the file is not readable Parquet (${reason})`,
        hint: 'Check that the file was written completely, then land it again.',
      });
    }
    const { rows: described } = await session.query(`DESCRIBE ${d.quoteIdent(request.stagingTable)}`);
    const columns: ColumnInfo[] = described
      .map((r) => ({ name: String(r.column_name), type: String(r.column_type) }))
      .filter((c) => c.name !== 'file_row_number');
    const { rows } = await session.query(`SELECT count(*) AS n FROM ${d.quoteIdent(request.stagingTable)}`);
    return { columns, rows: Number(rows[0]?.n ?? 0), rowIndexExpr: 'file_row_number', rejects: [] };
  }
}

/** DuckDB reports malformed JSON with a byte offset; the caller turns it into a line number. */
export class JsonParseError extends Error {
  constructor(
    readonly file: string,
    readonly byteOffset: number | undefined,
    readonly line: number | undefined,
    readonly detail: string,
  ) {
    super(detail);
  }
}

function jsonError(file: string, error: unknown): JsonParseError {
  const message = error instanceof EngineError ? error.engineMessage : errorMessage(error);
  const firstLine = message.split('\n')[0] ?? message;
  const byte = /at byte (\d+)/.exec(firstLine)?.[1];
  const line = /in line (\d+)/.exec(firstLine)?.[1];
  const detail = firstLine.replace(/^Invalid Input Error: /, '').replace(/ in file "[^"]*"/, '');
  return new JsonParseError(file, byte === undefined ? undefined : Number(byte), line === undefined ? undefined : Number(line), detail);
}
