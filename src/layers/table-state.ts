import type { SqlSession } from '../warehouse/warehouse.js';

/** What a silver/gold table was last built from (see refinery.tables). */
export interface TableState {
  readonly fingerprint: string;
  readonly lastBatchId: number;
  readonly inputs: string;
  readonly version: number;
  /** The columns (and inputs) its schema history holds as the latest version, as recordTableSchema fingerprints them. */
  readonly schemaFingerprint?: string | undefined;
}

const STATE_COLUMNS = 'table_name, fingerprint, last_batch_id, inputs, version, schema_fingerprint';

function toState(row: Record<string, unknown>): TableState {
  return {
    fingerprint: String(row.fingerprint),
    lastBatchId: Number(row.last_batch_id),
    inputs: String(row.inputs),
    version: Number(row.version),
    ...(row.schema_fingerprint === null || row.schema_fingerprint === undefined ? {} : { schemaFingerprint: String(row.schema_fingerprint) }),
  };
}

export async function readTableState(session: SqlSession, table: string): Promise<TableState | undefined> {
  const { rows } = await session.query(`SELECT ${STATE_COLUMNS} FROM refinery.tables WHERE table_name = $1`, [table]);
  return rows[0] ? toState(rows[0]) : undefined;
}

/**
 * A step's own state and the versions of the tables it reads (as `inputVersions` gives them), in one query: every
 * silver, gold and integration step asks both before anything else.
 */
export async function readStepState(session: SqlSession, table: string, reads: readonly string[]): Promise<{ state: TableState | undefined; inputs: string }> {
  const names = [table, ...reads.filter((r) => r !== table)];
  const { rows } = await session.query(`SELECT ${STATE_COLUMNS} FROM refinery.tables WHERE table_name IN (${names.map((_, i) => `$${i + 1}`).join(', ')})`, names);
  const own = rows.find((r) => String(r.table_name) === table);
  return { state: own ? toState(own) : undefined, inputs: versionsOf(reads, rows) };
}

export async function writeTableState(session: SqlSession, table: string, state: TableState, builtAt: Date): Promise<void> {
  // One statement for a table built before (every run but the first): update in place, insert only when new.
  const values = [table, state.fingerprint, state.lastBatchId, state.inputs, state.version, builtAt, state.schemaFingerprint ?? null];
  const updated = await session.execute(
    `UPDATE refinery.tables SET fingerprint = $2, last_batch_id = $3, inputs = $4, version = $5, built_at = $6, schema_fingerprint = $7 WHERE table_name = $1`,
    values,
  );
  if (updated === 0) {
    await session.execute(`INSERT INTO refinery.tables (table_name, fingerprint, last_batch_id, inputs, version, built_at, schema_fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7)`, values);
  }
}

/** The versions of the tables a step reads, as a stable string: when it changes, the step must run again. */
export async function inputVersions(session: SqlSession, reads: readonly string[]): Promise<string> {
  if (reads.length === 0) return versionsOf(reads, []);
  // One query for all of them: this runs once or twice per step.
  const { rows } = await session.query(`SELECT table_name, version FROM refinery.tables WHERE table_name IN (${reads.map((_, i) => `$${i + 1}`).join(', ')})`, [...reads]);
  return versionsOf(reads, rows);
}

function versionsOf(reads: readonly string[], rows: readonly Record<string, unknown>[]): string {
  const found = new Map(rows.map((r) => [String(r.table_name), Number(r.version)]));
  const versions: Record<string, number> = {};
  for (const table of reads) versions[table] = found.get(table) ?? 0;
  return JSON.stringify(versions);
}
