import type { SqlSession } from '../warehouse/warehouse.js';

/**
 * Which bronze batches still count. Bronze keeps everything, but some batches have been replaced: a landing file
 * re-landed under the same path replaces its earlier version (a corrected file, not an extra delivery), and a full
 * extract (or a new CDC snapshot) replaces every batch of its source before it. Replaced batches stay in bronze
 * for the record and are left out of silver; `audit` counts their rows as replaced.
 */
export async function replacedBatches(session: SqlSession, source: string): Promise<number[]> {
  const { rows } = await session.query(`${REPLACED} ORDER BY batch_id`, [source]);
  return rows.map((r) => Number(r.batch_id));
}

/**
 * The last batch in `bronzeTable` (0 when there is none, or no table) and the replaced batches up to it, in one
 * query: every silver step asks both before anything else.
 */
export async function bronzeBatches(session: SqlSession, source: string, bronzeTable: string | undefined): Promise<{ maxBatch: number; replaced: number[] }> {
  const last = bronzeTable ? `SELECT 'last' AS kind, coalesce(max(_batch_id), 0) AS batch_id FROM ${bronzeTable} UNION ALL ` : '';
  const { rows } = await session.query(`${last}SELECT 'replaced' AS kind, batch_id FROM (${REPLACED}) r`, [source]);
  const maxBatch = Number(rows.find((r) => r.kind === 'last')?.batch_id ?? 0);
  const replaced = rows.filter((r) => r.kind === 'replaced').map((r) => Number(r.batch_id)).filter((b) => b <= maxBatch).sort((a, b) => a - b);
  return { maxBatch, replaced };
}

// One pass with window functions: a correlated EXISTS per batch costs three times as much, and it runs every step.
const REPLACED = `SELECT batch_id FROM (
       SELECT batch_id, load_kind, path,
              max(batch_id) OVER (PARTITION BY path) AS last_of_path,
              max(CASE WHEN load_kind IN ('full', 'cdc-snapshot') THEN batch_id END) OVER () AS last_full
       FROM refinery.batches WHERE source = $1) b
     WHERE (coalesce(load_kind, 'files') = 'files' AND path IS NOT NULL AND batch_id < last_of_path)
        OR batch_id < coalesce(last_full, 0)`;
