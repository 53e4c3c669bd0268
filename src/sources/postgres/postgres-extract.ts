import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { RefineryError } from '../../errors.js';
import { quoteIdent, quoteTable } from './postgres-connection.js';

/** The NULL marker in extracts, so NULL and '' stay apart on the way into bronze. */
export const EXTRACT_NULL = '\\N';

export interface TableColumn {
  readonly name: string;
  /** PostgreSQL's type name, e.g. 'timestamp without time zone'. */
  readonly type: string;
}

export async function tableColumns(client: pg.Client, table: string): Promise<TableColumn[]> {
  const [schema, name] = table.split('.') as [string, string];
  const { rows } = await client.query<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [schema, name],
  );
  if (rows.length === 0) {
    throw new RefineryError('pipeline', { code: 'source_table_missing', message: `The table ${table} does not exist (or this user cannot see it).`, hint: 'Check the table name under sources.<name>.table and the user\'s privileges.' });
  }
  return rows.map((r) => ({ name: r.column_name, type: r.data_type }));
}

/**
 * Streams the result of a SELECT to a CSV file with COPY ... TO STDOUT: the server formats the rows and the
 * bytes go straight to disk, so a million rows never become a million JavaScript objects.
 */
export async function copyToFile(client: pg.Client, select: string, path: string): Promise<void> {
  const stream = client.query(copyStreams.to(`COPY (${select}) TO STDOUT WITH (FORMAT csv, HEADER true, NULL '${EXTRACT_NULL}')`));
  await pipeline(stream, createWriteStream(path));
}

export function selectList(columns: readonly string[]): string {
  return columns.map(quoteIdent).join(', ');
}

export { quoteTable };
