import type { SqlSession } from '../warehouse/warehouse.js';

/**
 * Per-source state that decides the next extraction — a cursor watermark, a CDC log position — kept in the
 * warehouse and written in the same transaction as the batch it describes, so it can never run ahead of the data.
 */
export async function readSourceState(session: SqlSession, source: string): Promise<Map<string, string>> {
  const { rows } = await session.query(`SELECT name, value FROM refinery.source_state WHERE source = $1`, [source]);
  return new Map(rows.map((r) => [String(r.name), String(r.value)]));
}

export async function writeSourceState(session: SqlSession, source: string, values: Record<string, string>, at: Date): Promise<void> {
  for (const [name, value] of Object.entries(values)) {
    await session.execute(`DELETE FROM refinery.source_state WHERE source = $1 AND name = $2`, [source, name]);
    await session.execute(`INSERT INTO refinery.source_state (source, name, value, updated_at) VALUES ($1, $2, $3, $4)`, [source, name, value, at]);
  }
}

export async function clearSourceState(session: SqlSession, source: string): Promise<void> {
  await session.execute(`DELETE FROM refinery.source_state WHERE source = $1`, [source]);
}
