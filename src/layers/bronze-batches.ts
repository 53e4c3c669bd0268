import type { SqlSession } from '../warehouse/warehouse.js';

/**
 * Which bronze batches still count. Bronze keeps everything, but some batches have been replaced: a landing file
 * re-landed under the same path replaces its earlier version (a corrected file, not an extra delivery), and a full
 * extract (or a new CDC snapshot) replaces every batch of its source before it. Replaced batches stay in bronze
 * for the record and are left out of silver; `audit` counts their rows as replaced.
 */
export async function replacedBatches(session: SqlSession, source: string): Promise<number[]> {
  // One pass with window functions: a correlated EXISTS per batch costs three times as much, and it runs every step.
  const { rows } = await session.query(
    `SELECT batch_id FROM (
       SELECT batch_id, load_kind, path,
              max(batch_id) OVER (PARTITION BY path) AS last_of_path,
              max(CASE WHEN load_kind IN ('full', 'cdc-snapshot') THEN batch_id END) OVER () AS last_full
       FROM refinery.batches WHERE source = $1) b
     WHERE (coalesce(load_kind, 'files') = 'files' AND path IS NOT NULL AND batch_id < last_of_path)
        OR batch_id < coalesce(last_full, 0)
     ORDER BY batch_id`,
    [source],
  );
  return rows.map((r) => Number(r.batch_id));
}
