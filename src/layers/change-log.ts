import type { DownstreamKey } from '../config/plan.js';
import type { SqlDialect, SqlSession } from '../warehouse/warehouse.js';

/**
 * The key values a build touched, per table and run, for keyed gold models downstream (incremental refresh).
 * A rebuild logs a single NULL key: "everything changed".
 */
export async function logEverything(tx: SqlSession, table: string, runId: number): Promise<void> {
  await tx.execute(`INSERT INTO refinery.change_log (table_name, run_id, key_name, key_value) VALUES ($1, $2, NULL, NULL)`, [table, runId]);
}

/**
 * Logs, for each key name, the distinct values of that column in `rowsSql` (a SELECT yielding those columns). A
 * partition is logged as the value of its expression over those rows, NULL included: NULL is a partition too.
 */
export async function logKeys(tx: SqlSession, d: SqlDialect, table: string, runId: number, keyNames: readonly DownstreamKey[], rowsSql: string): Promise<void> {
  for (const key of keyNames) {
    const [name, value, where] = typeof key === 'string' ? [key, d.quoteIdent(key), `WHERE ${d.quoteIdent(key)} IS NOT NULL`] : [key.name, `(${key.sql})`, ''];
    await tx.execute(
      `INSERT INTO refinery.change_log (table_name, run_id, key_name, key_value)
       SELECT DISTINCT $1, $2, $3, CAST(${value} AS VARCHAR) FROM (${rowsSql}) AS touched ${where}`,
      [table, runId, name],
    );
  }
}

/**
 * Key values touched in `table` after run `sinceRun`, or 'all' when a rebuild happened since (or the key is not
 * logged for that table).
 */
export async function touchedSince(tx: SqlSession, table: string, key: string, sinceRun: number): Promise<string[] | 'all'> {
  const { rows } = await tx.query(
    `SELECT key_name, key_value FROM refinery.change_log WHERE table_name = $1 AND run_id > $2 AND (key_name IS NULL OR key_name = $3)`,
    [table, sinceRun, key],
  );
  if (rows.some((r) => r.key_name === null)) return 'all';
  return [...new Set(rows.map((r) => String(r.key_value)))];
}

/** Partition values touched in `table` after run `sinceRun` (null for the NULL partition), or 'all' after a rebuild. */
export async function touchedPartitionsSince(tx: SqlSession, table: string, key: string, sinceRun: number): Promise<(string | null)[] | 'all'> {
  const { rows } = await tx.query(
    `SELECT DISTINCT key_name, key_value FROM refinery.change_log WHERE table_name = $1 AND run_id > $2 AND (key_name IS NULL OR key_name = $3)`,
    [table, sinceRun, key],
  );
  if (rows.some((r) => r.key_name === null)) return 'all';
  return rows.map((r) => (r.key_value === null ? null : String(r.key_value)));
}
