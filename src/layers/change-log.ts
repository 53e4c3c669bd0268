import type { SqlDialect, SqlSession } from '../warehouse/warehouse.js';

/**
 * The key values a build touched, per table and run, for keyed gold models downstream (incremental refresh).
 * A rebuild logs a single NULL key: "everything changed".
 */
export async function logEverything(tx: SqlSession, table: string, runId: number): Promise<void> {
  await tx.execute(`INSERT INTO refinery.change_log (table_name, run_id, key_name, key_value) VALUES ($1, $2, NULL, NULL)`, [table, runId]);
}

/** Logs, for each key name, the distinct values of that column in `rowsSql` (a SELECT yielding those columns). */
export async function logKeys(tx: SqlSession, d: SqlDialect, table: string, runId: number, keyNames: readonly string[], rowsSql: string): Promise<void> {
  for (const key of keyNames) {
    await tx.execute(
      `INSERT INTO refinery.change_log (table_name, run_id, key_name, key_value)
       SELECT DISTINCT $1, $2, $3, CAST(${d.quoteIdent(key)} AS VARCHAR) FROM (${rowsSql}) AS touched WHERE ${d.quoteIdent(key)} IS NOT NULL`,
      [table, runId, key],
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
