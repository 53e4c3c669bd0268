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
  return (await touchedSinceEach(tx, key, new Map([[table, sinceRun]]))).get(table) ?? [];
}

/** `touchedSince` for several tables (table → the run after which to look), in one query. */
export async function touchedSinceEach(tx: SqlSession, key: string, since: ReadonlyMap<string, number>): Promise<Map<string, string[] | 'all'>> {
  const out = new Map<string, string[] | 'all'>();
  if (since.size === 0) return out;
  const params: (string | number)[] = [key];
  const tables = [...since].map(([table, run]) => {
    params.push(table, run);
    return `(table_name = $${params.length - 1} AND run_id > $${params.length})`;
  });
  const { rows } = await tx.query(`SELECT table_name, key_name, key_value FROM refinery.change_log WHERE (${tables.join(' OR ')}) AND (key_name IS NULL OR key_name = $1)`, params);
  const values = new Map<string, Set<string>>([...since.keys()].map((t) => [t, new Set<string>()]));
  const rebuilt = new Set(rows.filter((r) => r.key_name === null).map((r) => String(r.table_name)));
  for (const r of rows) if (r.key_name !== null) values.get(String(r.table_name))?.add(String(r.key_value));
  for (const [table, keys] of values) out.set(table, rebuilt.has(table) ? 'all' : [...keys]);
  return out;
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
