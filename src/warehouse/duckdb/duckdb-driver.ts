import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { RefineryError } from '../../errors.js';
import { EngineError, type EngineFailureKind } from '../engine-error.js';
import { integerFromText, timestampToIso, toSqlTimestamp } from '../values.js';
import type { ColumnInfo, QueryResult, Row, SqlParam, SqlSession, TransactionOptions, WarehouseDriver } from '../warehouse.js';
import { createsOnlyIfMissing, ddlTargets, SchemaCache, type DdlTargets } from './schema-cache.js';

const BIG_INTEGER_TYPES = new Set(['BIGINT', 'HUGEINT', 'UBIGINT', 'UHUGEINT']);

function converterFor(type: string): ((value: unknown) => unknown) | undefined {
  if (BIG_INTEGER_TYPES.has(type)) return (v) => (typeof v === 'string' ? integerFromText(v) : v);
  if (type.startsWith('DECIMAL')) return (v) => (typeof v === 'string' ? Number(v) : v);
  if (type.startsWith('TIMESTAMP')) return (v) => (typeof v === 'string' ? timestampToIso(v) : v);
  return undefined;
}

function classify(message: string): EngineFailureKind {
  if (/^Parser Error/i.test(message)) return 'syntax';
  if (/^(Catalog|Binder) Error/i.test(message)) return 'missing_object';
  if (/^Conversion Error/i.test(message)) return 'conversion';
  if (/^Constraint Error/i.test(message)) return 'constraint';
  if (/Conflict/i.test(message) && /Transaction/i.test(message)) return 'conflict';
  if (/Could not set lock on file/i.test(message)) return 'lock';
  if (/^IO Error/i.test(message)) return 'io';
  return 'other';
}

function toDuckValue(param: SqlParam): DuckDBValue {
  if (param instanceof Date) return toSqlTimestamp(param);
  return param;
}

async function runQuery(connection: DuckDBConnection, sql: string, params: readonly SqlParam[]): Promise<QueryResult> {
  try {
    const reader = params.length > 0 ? await runPrepared(connection, sql, params) : await connection.runAndReadAll(sql);
    const names = reader.columnNames();
    const columns: ColumnInfo[] = reader.columnTypes().map((type, i) => ({ name: names[i] ?? `column${i}`, type: type.toString() }));
    const converters = columns.map((c) => converterFor(c.type));
    const rows = reader.getRowObjectsJson() as Row[];
    if (converters.some((c) => c !== undefined)) {
      for (const row of rows) {
        columns.forEach((column, i) => {
          const convert = converters[i];
          if (convert && row[column.name] !== null) row[column.name] = convert(row[column.name]);
        });
      }
    }
    return { columns, rows };
  } catch (error) {
    throw toEngineError(error, sql, params);
  }
}

/**
 * A statement with parameters, prepared directly: the client's runAndReadAll(sql, values) first splits the text into
 * statements, one more round trip to the engine's thread for the one statement Refinery always sends (~0.15 ms,
 * some sixty times in an incremental run).
 */
async function runPrepared(connection: DuckDBConnection, sql: string, params: readonly SqlParam[]) {
  const prepared = await connection.prepare(sql);
  try {
    prepared.bind(params.map(toDuckValue));
    return await prepared.runAndReadAll();
  } finally {
    prepared.destroySync();
  }
}

export function toEngineError(error: unknown, sql: string, params: readonly SqlParam[]): EngineError {
  const engineMessage = error instanceof Error ? error.message : String(error);
  return new EngineError({ sql, params, failure: classify(engineMessage), engineMessage, cause: error });
}

/**
 * One connection. Statements that change the catalog are reported to the schema cache: inside a transaction, their
 * tables stay pending until it ends; outside one (autocommit), until the statement returns.
 */
export class DuckDBSession implements SqlSession {
  /** DDL this transaction ran, ended (and forgotten by the cache) when it commits or rolls back. */
  private readonly ddl: DdlTargets[] = [];

  constructor(
    protected readonly connection: DuckDBConnection,
    readonly schemaCache: SchemaCache,
    /** The cache epoch this session's snapshot belongs to; undefined for autocommit (always the latest). */
    private readonly snapshotEpoch?: number,
    private readonly inTransaction = false,
  ) {}

  /** The epoch a catalog lookup made now by this session sees. */
  get cacheEpoch(): number {
    return this.snapshotEpoch ?? this.schemaCache.epoch;
  }

  query(sql: string, params: readonly SqlParam[] = []): Promise<QueryResult> {
    return this.run(sql, params);
  }

  private async run(sql: string, params: readonly SqlParam[]): Promise<QueryResult> {
    const targets = ddlTargets(sql);
    if (!targets) return runQuery(this.connection, sql, params);
    // Every step makes sure its table exists; when this session knows it does, the statement would change
    // nothing, so it is not sent at all (a millisecond or three inside a busy transaction).
    const noOp = targets !== 'all' && createsOnlyIfMissing(sql) && [...targets].every((key) => this.schemaCache.get(key, this.cacheEpoch) !== undefined);
    if (noOp) return { columns: [], rows: [] };
    this.schemaCache.begin(targets);
    if (this.inTransaction) {
      this.ddl.push(targets);
      return runQuery(this.connection, sql, params);
    }
    try {
      return await runQuery(this.connection, sql, params);
    } finally {
      this.schemaCache.end(targets);
    }
  }

  /** The transaction ended, one way or the other: the cache forgets the tables it changed. */
  protected endDdl(): void {
    for (const targets of this.ddl.splice(0)) this.schemaCache.end(targets);
  }

  async execute(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    const { rows, columns } = await this.run(sql, params);
    // DuckDB answers DML with a single "Count" column.
    if (columns.length === 1 && columns[0]?.name === 'Count' && rows.length === 1) return Number(rows[0]?.Count ?? 0);
    return 0;
  }
}

/**
 * Connections and transactions for an embedded DuckDB database. Each transaction gets its own connection,
 * so temporary staging tables never leak between steps and independent steps may later run side by side.
 */
export class DuckDBDriver extends DuckDBSession implements WarehouseDriver {
  private closed = false;

  private constructor(
    private readonly instance: DuckDBInstance,
    connection: DuckDBConnection,
  ) {
    super(connection, new SchemaCache());
  }

  static async open(path: string, options: { threads?: number } = {}): Promise<DuckDBDriver> {
    let instance: DuckDBInstance;
    try {
      const config: Record<string, string> = {};
      if (options.threads) config.threads = String(options.threads);
      instance = await DuckDBInstance.create(path, config);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (/lock/i.test(message)) {
        const pid = /PID (\d+)/.exec(message)?.[1];
        throw new RefineryError('pipeline', {
          code: 'warehouse_locked',
          file: path,
          message: `The warehouse ${path} is in use by another process${pid ? ` (PID ${pid})` : ''}.`,
          hint: 'Wait for the other refinery command to finish, or stop it, then try again.',
        }, { cause: error });
      }
      throw new RefineryError('pipeline', { code: 'warehouse_open_failed', file: path, message: `Could not open the warehouse ${path}: ${message}` }, { cause: error });
    }
    return new DuckDBDriver(instance, await instance.connect());
  }

  async transaction<T>(work: (tx: SqlSession) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const { signal } = options;
    signal?.throwIfAborted();
    const connection = await this.instance.connect();
    // An abort (timeout, Ctrl-C) interrupts the statement in flight; the rollback below undoes everything else.
    const onAbort = (): void => connection.interrupt();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (options.beforeBegin) {
      try {
        await options.beforeBegin(new DuckDBSession(connection, this.schemaCache));
        signal?.throwIfAborted();
      } catch (error) {
        signal?.removeEventListener('abort', onAbort);
        connection.closeSync();
        throw signal?.aborted ? signal.reason : error;
      }
    }
    // The snapshot's catalog epoch is taken at BEGIN, after whatever DDL beforeBegin ran.
    const session = new TransactionSession(connection, this.schemaCache, this.schemaCache.epoch);
    await session.execute('BEGIN TRANSACTION');
    try {
      const result = await work(session);
      signal?.throwIfAborted();
      await session.execute('COMMIT');
      return result;
    } catch (error) {
      try {
        await session.execute('ROLLBACK');
      } catch {
        // The transaction may already be aborted by the engine; the original error is the one to report.
      }
      throw signal?.aborted ? signal.reason : error;
    } finally {
      session.ended();
      signal?.removeEventListener('abort', onAbort);
      connection.closeSync();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A checkpoint folds the write-ahead log into the database file, so the file on disk is complete by itself.
    try {
      await this.connection.run('CHECKPOINT');
    } catch {
      // Read-only or in-memory databases have nothing to checkpoint.
    }
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

class TransactionSession extends DuckDBSession {
  constructor(connection: DuckDBConnection, cache: SchemaCache, epoch: number) {
    super(connection, cache, epoch, true);
  }

  ended(): void {
    this.endDdl();
  }
}
