import type { Writable } from 'node:stream';
import { RefineryError } from '../errors.js';

/**
 * What a load strategy needs from a source database, and nothing more: its columns, the greatest value of a cursor
 * column, and "write the rows matching this SELECT to a CSV file". The strategies themselves (full, cursor,
 * snapshot — src/incremental/database-ingest.ts) are written once against this interface; each engine
 * (PostgreSQL, MySQL/MariaDB) lives at the edge, in its own folder, and renders the SELECT in its own SQL.
 */

/** The password a connection names by environment variable (secrets never live in the project file). */
export function passwordFromEnv(source: string, variable: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (!variable) return undefined;
  const password = env[variable];
  if (password === undefined) {
    throw new RefineryError('config', {
      code: 'connection_env_missing',
      path: `sources.${source}.connection.passwordEnv`,
      message: `sources.${source} reads its password from the environment variable ${variable}, which is not set.`,
      hint: `Set ${variable} to the database password.`,
    });
  }
  return password;
}

/** The NULL marker in extracts, so NULL and '' stay apart on the way into bronze. */
export const EXTRACT_NULL = '\\N';

export interface TableColumn {
  readonly name: string;
  /** The server's type name, e.g. 'timestamp without time zone' (PostgreSQL) or 'datetime' (MySQL). */
  readonly type: string;
  /** A generated column (computed by the server from others): PostgreSQL's change stream does not carry it. */
  readonly generated?: boolean;
}

/**
 * How a cursor column compares with a start value: a naive timestamp, a time-zone aware one, a date, or anything
 * else (numbers, text). Lag needs a time; a start value's zone must agree with the column's.
 */
export type CursorKind = 'timestamp' | 'timestamptz' | 'date' | 'other';

/** The rows a strategy wants: some columns, and for the cursor strategy a window on the cursor column. */
export interface ExtractQuery {
  readonly columns: readonly string[];
  readonly cursor?: {
    readonly column: TableColumn;
    /** Rows whose cursor is ≥ this (minus `lagMs`); from the beginning when absent. */
    readonly from?: string;
    readonly lagMs: number;
    /** Rows whose cursor is ≤ this: the maximum taken before extracting, so a row committed meanwhile is read next time. */
    readonly upTo?: string;
  };
}

export interface DatabaseExtractor {
  /** Where the rows come from, without any secret: `postgres://etl@db:5432/crm#public.customers`. */
  readonly label: string;
  /** The table, as the project names it (for messages). */
  readonly table: string;
  /** The table's columns in their order; fails with `source_table_missing` when there is no such table. */
  columns(): Promise<TableColumn[]>;
  cursorKind(column: TableColumn): CursorKind;
  /**
   * Writes the rows matching `query` (in cursor order, when it has one) to `out` as CSV: a header row, NULL as \N,
   * '' as "". Resolves once `out` has finished.
   */
  extract(query: ExtractQuery, out: Writable): Promise<void>;
  /** The greatest cursor value among the rows matching `query`, as the server prints it; null when none match. */
  maxCursor(query: ExtractQuery): Promise<string | null>;
  close(): Promise<void>;
}

/** A value as a CSV field of an extract: quoted when it would otherwise be ambiguous (including '' and a literal \N). */
export function csvField(value: string): string {
  return /[",\n\r]/.test(value) || value === '' || value === EXTRACT_NULL ? `"${value.replaceAll('"', '""')}"` : value;
}
