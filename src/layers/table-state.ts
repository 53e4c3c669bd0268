import type { SqlSession } from '../warehouse/warehouse.js';

/** What a silver/gold table was last built from (see refinery.tables). */
export interface TableState {
  readonly fingerprint: string;
  readonly lastBatchId: number;
  readonly inputs: string;
  readonly version: number;
}

export async function readTableState(session: SqlSession, table: string): Promise<TableState | undefined> {
  const { rows } = await session.query(`SELECT fingerprint, last_batch_id, inputs, version FROM refinery.tables WHERE table_name = $1`, [table]);
  const row = rows[0];
  if (!row) return undefined;
  return { fingerprint: String(row.fingerprint), lastBatchId: Number(row.last_batch_id), inputs: String(row.inputs), version: Number(row.version) };
}

export async function writeTableState(session: SqlSession, table: string, state: TableState, builtAt: Date): Promise<void> {
  // One statement for a table built before (every run but the first): update in place, insert only when new.
  const updated = await session.execute(
    `UPDATE refinery.tables SET fingerprint = $2, last_batch_id = $3, inputs = $4, version = $5, built_at = $6 WHERE table_name = $1`,
    [table, state.fingerprint, state.lastBatchId, state.inputs, state.version, builtAt],
  );
  if (updated === 0) {
    await session.execute(
      `INSERT INTO refinery.tables (table_name, fingerprint, last_batch_id, inputs, version, built_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      [table, state.fingerprint, state.lastBatchId, state.inputs, state.version, builtAt],
    );
  }
}

/** The versions of the tables a step reads, as a stable string: when it changes, the step must run again. */
export async function inputVersions(session: SqlSession, reads: readonly string[]): Promise<string> {
  const versions: Record<string, number> = {};
  if (reads.length === 0) return JSON.stringify(versions);
  // One query for all of them: this runs once or twice per step.
  const { rows } = await session.query(`SELECT table_name, version FROM refinery.tables WHERE table_name IN (${reads.map((_, i) => `$${i + 1}`).join(', ')})`, [...reads]);
  const found = new Map(rows.map((r) => [String(r.table_name), Number(r.version)]));
  for (const table of reads) versions[table] = found.get(table) ?? 0;
  return JSON.stringify(versions);
}
