/**
 * The shape of `refinery.config.ts`. These types are what a project file sees in the editor through
 * `defineProject`; `load-project.ts` validates the same shape at run time and turns it into a frozen plan.
 */
import type { LogicalType } from '../warehouse/warehouse.js';

export type { LogicalType };

export interface WarehouseConfig {
  /** Only `duckdb` today; PostgreSQL is planned. */
  engine?: 'duckdb';
  /** Database file, relative to the project directory. Default `.refinery/warehouse.duckdb`. */
  path?: string;
  /** Worker threads DuckDB may use. Default: all cores. */
  threads?: number;
}

export interface CsvConfig {
  /** Field separator. Default `,`. */
  delimiter?: string;
  /** Quote character. Default `"`. */
  quote?: string;
  /** Escape character inside quoted fields. Default: the quote character (RFC 4180 `""`). */
  escape?: string;
  /** Default `utf-8`. A UTF-8 byte-order mark is skipped. */
  encoding?: 'utf-8' | 'latin-1';
}

export interface FileSourceConfig {
  /** Landing files to ingest: a path or glob relative to the project directory, e.g. `landing/customers/*.csv`. */
  path: string;
  /** Default: taken from the file extension (`.csv`, `.jsonl`/`.ndjson`, `.json`, `.parquet`). */
  format?: 'csv' | 'jsonl' | 'json' | 'parquet';
  /** Columns every file must have. A file missing one is refused (not ingested) with a message naming it. */
  columns?: string[];
  csv?: CsvConfig;
  description?: string;
}

/** Built-in cleaning rules, applied in order to a column's text before it is typed. */
export type CleanRule =
  | 'trim'
  | 'lower'
  | 'upper'
  | 'collapse_spaces'
  | 'title_case'
  | 'digits_only'
  | 'phone'
  | { replace: { pattern: string; with: string } }
  | { sql: string };

export interface ColumnConfig {
  /** Raw (bronze) column to start from. Default: the column of the same name. */
  from?: string;
  /** An SQL expression over the raw columns to start from instead of `from`. */
  sql?: string;
  /** Cleaning rules applied in order. */
  clean?: CleanRule[];
  /** Type to convert the cleaned text to. Default `text`. A value that does not convert becomes NULL. */
  type?: LogicalType;
  /** For `date` and `timestamp`: accepted formats, tried in order, e.g. `['YYYY-MM-DD', 'DD/MM/YYYY']`. */
  formats?: string[];
  /** Keep empty text as '' instead of NULL. Default false: silver has no blank strings. */
  keepEmpty?: boolean;
  description?: string;
}

/** What a check asserts about a row; a row that does not satisfy it fails the check. */
export type CheckRule =
  | 'not_null'
  | 'parses'
  | { matches: string }
  | { in: (string | number)[] }
  | { min?: number; max?: number }
  | { references: string }
  | { sql: string };

export type CheckAction = 'warn' | 'quarantine' | 'fail';

export interface CheckConfig {
  /** Names the check; it is the quarantine `_reason` and the warning's name. */
  name: string;
  /** The silver column the rule applies to (not needed for `{ sql }`). */
  column?: string;
  rule: CheckRule;
  /** `warn` keeps the row and counts it; `quarantine` (default) moves it to `quarantine.<table>`; `fail` stops the run. */
  action?: CheckAction;
  description?: string;
}

export interface SilverTableConfig {
  /** The source (bronze table) this table is built from. Default: the source of the same name. */
  from?: string;
  columns: Record<string, ColumnConfig>;
  /** Checks in order; the first failing quarantine/fail check gives a row's reason. */
  checks?: CheckConfig[];
  /** Column(s) identifying a row: one row per key survives (latest wins). */
  key?: string | string[];
  /** Column(s) deciding which version of a key is latest: the greatest wins; ties go to the row that arrived last. */
  latest?: string | string[];
  /** `merge` (default when a key is set) upserts new batches by key; `replace` rebuilds from all of bronze. */
  materialize?: 'merge' | 'replace';
  description?: string;
}

export interface GoldModelConfig {
  /** One SELECT over silver (or other gold) tables; its dependencies are read from it. */
  sql: string;
  description?: string;
}

export interface ProjectConfig {
  /** Project name, shown in run records. */
  name: string;
  warehouse?: WarehouseConfig;
  sources: Record<string, FileSourceConfig>;
  silver?: Record<string, SilverTableConfig>;
  gold?: Record<string, GoldModelConfig>;
}
