import type { SilverPlan } from '../config/plan.js';
import type { SqlSession } from '../warehouse/warehouse.js';
import type { StepContext } from '../orchestrator/run-context.js';
import { logEverything, logKeys } from './change-log.js';
import type { CandidateStats } from './silver-candidates.js';
import type { MaterializeResult } from './silver-merge.js';
import { SILVER_LINEAGE } from './silver-sql.js';

/**
 * scd2: every state a key ever had, with valid_from, valid_to and is_current. The history of each touched key is
 * recomputed from all of its bronze versions — so late and out-of-order changes land in the right place and an
 * incremental run equals a full rebuild. Consecutive identical states collapse (re-applying a change adds no
 * version); a delete closes the current version. valid_from is the `latest` column, or the ingestion time.
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
  const validFrom = table.latest[0] ? `coalesce(CAST(${q(table.latest[0])} AS TIMESTAMP), _ingested_at)` : '_ingested_at';
  const order = `${keys.join(', ')} ORDER BY _vf, _batch_id, _source_file, _source_row`;
  const columns = table.columns.map((c) => q(c.name));
  const after = await tx.execute(
    `INSERT INTO ${silverTable} (${[...columns, 'valid_from', 'valid_to', 'is_current', ...SILVER_LINEAGE.map(q)].join(', ')})
     WITH v AS (SELECT *, ${validFrom} AS _vf, ${d.rowHash(columns)} AS _state FROM (${versions}) versions),
     o AS (SELECT *, lag(_state) OVER (PARTITION BY ${order}) AS _prev_state, lag(_op) OVER (PARTITION BY ${order}) AS _prev_op FROM v),
     kept AS (SELECT * FROM o WHERE coalesce(_op, '') = 'delete' OR _prev_state IS NULL OR coalesce(_prev_op, '') = 'delete' OR _state <> _prev_state),
     h AS (SELECT *, lead(_vf) OVER (PARTITION BY ${order}) AS _vt FROM kept)
     SELECT ${[...columns, '_vf', '_vt', '_vt IS NULL', ...SILVER_LINEAGE.map(q)].join(', ')} FROM h WHERE coalesce(_op, '') <> 'delete'`,
  );
  if (rebuild) await logEverything(tx, step, ctx.runId);
  else if (table.downstreamKeys.length > 0) await logKeys(tx, d, step, ctx.runId, table.downstreamKeys, `SELECT * FROM ${silverTable} s WHERE ${keyTuple('s')} IN (${touched})`);
  const written = after - before;
  return { written, superseded: stats.passing - written };
}
