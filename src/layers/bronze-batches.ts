import type { SqlSession } from '../warehouse/warehouse.js';

/**
 * Which bronze batches still count. Bronze keeps everything, but some batches have been replaced: a landing file
 * re-landed under the same path replaces its earlier version (a corrected file, not an extra delivery), and a full
 * extract (or a new CDC snapshot) replaces every batch of its source before it. Replaced batches stay in bronze
 * for the record and are left out of silver; `audit` counts their rows as replaced.
 */
export async function replacedBatches(session: SqlSession, source: string): Promise<number[]> {
  const { rows } = await session.query(
    `SELECT b.batch_id FROM refinery.batches b
     WHERE b.source = $1 AND (
       (coalesce(b.load_kind, 'files') = 'files' AND EXISTS (
          SELECT 1 FROM refinery.batches n WHERE n.source = b.source AND n.path = b.path AND n.batch_id > b.batch_id))
       OR b.batch_id < coalesce((SELECT max(f.batch_id) FROM refinery.batches f WHERE f.source = b.source AND f.load_kind IN ('full', 'cdc-snapshot')), 0))
     ORDER BY b.batch_id`,
    [source],
  );
  return rows.map((r) => Number(r.batch_id));
}
