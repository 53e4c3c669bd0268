import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { QueryResult, SqlParam, SqlSession, TransactionOptions, Warehouse, WarehouseCapabilities } from '../warehouse.js';
import { DuckDBDialect } from './duckdb-dialect.js';
import { DuckDBDriver } from './duckdb-driver.js';
import { DuckDBExporter } from './duckdb-exporter.js';
import { DuckDBFileStager } from './duckdb-file-stager.js';
import { DuckDBIntrospector } from './duckdb-introspector.js';
import { DuckDBParser } from './duckdb-parser.js';

export interface DuckDBWarehouseOptions {
  /** Database file, or `:memory:`. */
  readonly path: string;
  readonly threads?: number;
}

const CAPABILITIES: WarehouseCapabilities = Object.freeze({
  readsFilesNatively: true,
  transactionalDdl: true,
  supportsMerge: true,
});

/** The default warehouse: an embedded DuckDB database in one file. */
export class DuckDBWarehouse implements Warehouse {
  readonly engine = 'duckdb';
  readonly capabilities = CAPABILITIES;
  readonly dialect = new DuckDBDialect();
  readonly files = new DuckDBFileStager(this.dialect);
  readonly exporter = new DuckDBExporter(this.dialect);
  readonly introspector: DuckDBIntrospector;
  readonly parser: DuckDBParser;

  private constructor(
    private readonly driver: DuckDBDriver,
    readonly location: string,
  ) {
    this.introspector = new DuckDBIntrospector(driver);
    this.parser = new DuckDBParser(driver);
  }

  static async open(options: DuckDBWarehouseOptions): Promise<DuckDBWarehouse> {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    const driver = await DuckDBDriver.open(options.path, options.threads ? { threads: options.threads } : {});
    // Naive timestamps are read as UTC, whatever the machine's zone: the same files give the same warehouse everywhere.
    await driver.execute(`SET GLOBAL TimeZone = 'UTC'`);
    return new DuckDBWarehouse(driver, options.path);
  }

  query(sql: string, params?: readonly SqlParam[]): Promise<QueryResult> {
    return this.driver.query(sql, params);
  }

  execute(sql: string, params?: readonly SqlParam[]): Promise<number> {
    return this.driver.execute(sql, params);
  }

  transaction<T>(work: (tx: SqlSession) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return this.driver.transaction(work, options);
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}
