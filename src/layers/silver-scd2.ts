import type { SilverPlan } from '../config/plan.js';
import type { SqlSession } from '../warehouse/warehouse.js';
import type { StepContext } from '../orchestrator/run-context.js';
import { logEverything, logKeys } from './change-log.js';
import type { CandidateStats } from './silver-candidates.js';
import { arrival, type MaterializeResult } from './silver-merge.js';
import { SILVER_LINEAGE } from './silver-sql.js';

/**
 * scd2: every state a key ever had, with valid_from, valid_to and is_current. The history of each touched key is
 * recomputed from all of its bronze versions — so late and out-of-order changes land in the right place and an
 * incremental run equals a full rebuild. Consecutive identical states collapse (re-applying a change adds no
 * version). valid_from is the `latest` column, or the ingestion time.
 *
 * Deletes (from a database source) follow merge's rule: they are ordered by arrival, not by time — a delete carries
 * no business time of its own (its `latest` is empty, or the deleted row's). Each delete ends an epoch of the key:
 * versions that arrived before it are ordered by `latest` and closed by it; versions that arrived after it (a
 * re-insert) open the next epoch. The delete closes at its ingestion time, or earlier, at the first later version's
 * valid_from; valid_from never runs backwards across an epoch (a running max), so intervals never overlap.
 */
export async function applyScd2(ctx: StepContext, tx: SqlSession, table: SilverPlan, stats: CandidateStats, rebuild: boolean, allCandidatesSql: string): Promise<MaterializeResult> {
  const d = ctx.warehouse.dialect;
  const q = (n: string): string => d.quoteIdent(n);
  const step = `silver.${table.name}`;
  const silverTable = d.table('silver', table.name);
  const keys = table.key.map(q);
  const keyTuple = (alias: string): string => `(${table.key.map((k) => `${alias}.${q(k)}`).join(', ')})`;
  const touched = `SELECT DISTINCT ${keys.join(', ')} FROM ${stats.cand} WHERE _reason IS NULL`;
  const versions = rebuild
    ? `SELECT * FROM ${stats.cand} WHERE _reason IS NULL`
    : `SELECT a.* FROM (${allCandidatesSql}) a WHERE a._reason IS NULL AND ${keyTuple('a')} IN (${touched})`;
  let before = 0;
  if (!rebuild) {
    before = Number((await tx.query(`SELECT count(*) AS n FROM ${silverTable} s WHERE ${keyTuple('s')} IN (${touched})`)).rows[0]?.n ?? 0);
    await tx.execute(`DELETE FROM ${silverTable} AS s WHERE ${keyTuple('s')} IN (${touched})`);
  }
  const latest = table.latest[0] ? `coalesce(CAST(${q(table.latest[0])} AS TIMESTAMP), _ingested_at)` : '_ingested_at';
  const byKey = `PARTITION BY ${keys.join(', ')}`;
  // The key's change sequence: epoch (deletes that arrived before), versions of an epoch before its delete, then time.
  const sequence = `${byKey} ORDER BY _epoch, _is_delete, _t, _batch_id, _source_file, _source_row`;
  const columns = table.columns.map((c) => q(c.name));
  const after = await tx.execute(
    `INSERT INTO ${silverTable} (${[...columns, 'valid_from', 'valid_to', 'is_current', ...SILVER_LINEAGE.map(q)].join(', ')})
     WITH v AS (
       SELECT *, coalesce(_op, '') = 'delete' AS _is_delete, ${d.rowHash(columns)} AS _state,
         CASE WHEN coalesce(_op, '') = 'delete' THEN _ingested_at ELSE ${latest} END AS _t,
         coalesce(sum(CASE WHEN coalesce(_op, '') = 'delete' THEN 1 ELSE 0 END) OVER (${byKey} ORDER BY ${arrival('')} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS _epoch
       FROM (${versions}) versions),
     closed AS (
       SELECT *, CASE WHEN _is_delete THEN least(_t, coalesce(min(CASE WHEN NOT _is_delete THEN _t END) OVER (${sequence} ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), _t)) ELSE _t END AS _tc
       FROM v),
     o AS (
       SELECT *, max(_tc) OVER (${sequence} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _vf,
         lag(_state) OVER (${sequence}) AS _prev_state, lag(_op) OVER (${sequence}) AS _prev_op
       FROM closed),
     kept AS (SELECT * FROM o WHERE _is_delete OR _prev_state IS NULL OR coalesce(_prev_op, '') = 'delete' OR _state <> _prev_state),
     h AS (SELECT *, lead(_vf) OVER (${sequence}) AS _vt FROM kept)
     SELECT ${[...columns, '_vf', '_vt', '_vt IS NULL', ...SILVER_LINEAGE.map(q)].join(', ')} FROM h WHERE NOT _is_delete`,
  );
  if (rebuild) await logEverything(tx, step, ctx.runId);
  else if (table.downstreamKeys.length > 0) await logKeys(tx, d, step, ctx.runId, table.downstreamKeys, `SELECT * FROM ${silverTable} s WHERE ${keyTuple('s')} IN (${touched})`);
  const written = after - before;
  return { written, superseded: stats.passing - written };
}
