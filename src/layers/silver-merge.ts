import type { SilverPlan } from '../config/plan.js';
import type { SqlSession } from '../warehouse/warehouse.js';
import type { StepContext } from '../orchestrator/run-context.js';
import { logEverything, logKeys } from './change-log.js';
import type { CandidateStats } from './silver-candidates.js';
import { beats, latestFirst, SILVER_LINEAGE } from './silver-sql.js';

/**
 * Where a row stands in arrival order, as one number: batches are one file or one extraction, so batch then row
 * orders every bronze row of a source (rows per batch stay far below 10^12).
 */
export function arrival(prefix: string): string {
  return `(${prefix}_batch_id * 1000000000000 + ${prefix}_source_row)`;
}

export interface MaterializeResult {
  readonly written: number;
  readonly superseded: number;
}

/**
 * merge (upsert by key) and replace. One row per key survives: the latest by the table's `latest` columns, ties
 * to the row that arrived last. An existing row is replaced only by a version that beats it — an older change
 * never overwrites a newer one. A delete marker removes its key (or flags it, with deletes: 'soft') unless a
 * version arrived after it: a delete followed by a re-insert leaves the re-inserted row.
 */
export async function mergeCandidates(ctx: StepContext, tx: SqlSession, table: SilverPlan, stats: CandidateStats, rebuild: boolean): Promise<MaterializeResult> {
  const d = ctx.warehouse.dialect;
  const q = (n: string): string => d.quoteIdent(n);
  const step = `silver.${table.name}`;
  const silverTable = d.table('silver', table.name);
  const { cand } = stats;
  const silverCols = [...table.columns.map((c) => q(c.name)), ...SILVER_LINEAGE.map(q)].join(', ');
  if (table.key.length === 0) {
    const written = await tx.execute(`INSERT INTO ${silverTable} (${silverCols}) SELECT ${silverCols} FROM ${cand} WHERE _reason IS NULL AND coalesce(_op, '') <> 'delete'`);
    await logEverything(tx, step, ctx.runId);
    return { written, superseded: 0 };
  }
  const keyCols = table.key.map(q);
  const sameKey = (a: string, b: string): string => table.key.map((k) => `${a}.${q(k)} = ${b}.${q(k)}`).join(' AND ');
  const ranked = `SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY ${keyCols.join(', ')} ORDER BY ${latestFirst(d, table)}) AS _rank
                  FROM ${cand} WHERE _reason IS NULL AND coalesce(_op, '') <> 'delete') ranked WHERE _rank = 1`;
  if (rebuild && stats.deletes === 0) {
    // The common full load: straight from the ranking into the empty table.
    const written = await tx.execute(`INSERT INTO ${silverTable} (${silverCols}) SELECT ${silverCols} FROM (${ranked}) w`);
    await logEverything(tx, step, ctx.runId);
    return { written, superseded: stats.passing - written };
  }
  const win = q(`win_${table.name}_${ctx.runId}`);
  const del = q(`del_${table.name}_${ctx.runId}`);
  // CREATE TABLE ... AS answers with the number of rows it wrote: no count(*) afterwards.
  let winners = await tx.execute(`CREATE TEMP TABLE ${win} AS ${ranked}`);
  let superseded = stats.passing - winners;
  // A downstream key that is a column of this table's key has the same value in a replaced row as in the version
  // replacing it, which is logged below: only deleted keys must be logged from the old rows.
  const keyHoldsDownstream = table.downstreamKeys.every((k) => typeof k === 'string' && table.key.includes(k));
  if (!rebuild && table.downstreamKeys.length > 0 && !(keyHoldsDownstream && stats.deletes === 0)) {
    // Before anything changes, the rows about to be replaced or deleted: their old key values are touched too.
    // A semi-join on the key (IN, not a correlated EXISTS, which the engine plans as a scan of every silver key).
    await logKeys(tx, d, step, ctx.runId, table.downstreamKeys, `SELECT s.* FROM ${silverTable} s WHERE (${keyCols.map((k) => `s.${k}`).join(', ')}) IN (SELECT ${keyCols.map((k) => `c.${k}`).join(', ')} FROM ${cand} c WHERE c._reason IS NULL)`);
  }
  if (stats.deletes > 0) {
    await tx.execute(`CREATE TEMP TABLE ${del} AS SELECT ${keyCols.join(', ')}, max(${arrival('')}) AS _deleted_at FROM ${cand} WHERE _op = 'delete' GROUP BY ${keyCols.join(', ')}`);
    // A version that arrived before the key's last delete is gone with it.
    const gone = await tx.execute(`DELETE FROM ${win} AS w USING ${del} AS x WHERE ${sameKey('w', 'x')} AND ${arrival('w.')} < x._deleted_at`);
    superseded += gone;
    winners -= gone;
    if (table.deletes === 'soft') {
      await tx.execute(`UPDATE ${silverTable} AS s SET _deleted = TRUE FROM ${del} AS x WHERE ${sameKey('s', 'x')}`);
    } else {
      superseded += await tx.execute(`DELETE FROM ${silverTable} AS s USING ${del} AS x WHERE ${sameKey('s', 'x')}`);
    }
  }
  const revive = table.deletes === 'soft' ? ' OR s._deleted' : '';
  superseded += await tx.execute(`DELETE FROM ${silverTable} AS s USING ${win} AS w WHERE ${sameKey('s', 'w')} AND (${beats(d, table, 'w', 's')}${revive})`);
  const written = await tx.execute(`INSERT INTO ${silverTable} (${silverCols}) SELECT ${silverCols} FROM ${win} AS w WHERE NOT EXISTS (SELECT 1 FROM ${silverTable} AS s WHERE ${sameKey('s', 'w')})`);
  superseded += winners - written;
  if (rebuild) await logEverything(tx, step, ctx.runId);
  else if (table.downstreamKeys.length > 0) await logKeys(tx, d, step, ctx.runId, table.downstreamKeys, `SELECT * FROM ${win}`);
  return { written, superseded };
}
