import type { SilverPlan } from '../config/plan.js';
import { pipelineError } from '../errors.js';
import type { SqlSession } from '../warehouse/warehouse.js';
import type { StepContext } from '../orchestrator/run-context.js';
import { BRONZE_LINEAGE } from './bronze-ingest.js';
import { rawName } from './silver-sql.js';
import { plural } from '../text.js';

export interface CandidateStats {
  /** Quoted name of the temporary table holding this build's candidate rows. */
  readonly cand: string;
  readonly rowsIn: number;
  /** Rows that passed every check (delete markers not included). */
  readonly passing: number;
  /** Delete markers from a database source. */
  readonly deletes: number;
  readonly quarantined: number;
  readonly quarantinedByReason: Record<string, number>;
  readonly warningsByCheck: Record<string, number>;
}

/**
 * Materialises the compiled candidate rows once, then: stops on a `fail` check or a NULL key (nothing written),
 * counts rows by reason and warning, and moves quarantined rows to quarantine.<table> with their raw values.
 */
export async function stageCandidates(ctx: StepContext, tx: SqlSession, table: SilverPlan, bronzeColumns: readonly string[], candidatesSql: string): Promise<CandidateStats> {
  const step = `silver.${table.name}`;
  const d = ctx.warehouse.dialect;
  const q = (n: string): string => d.quoteIdent(n);
  const cand = q(`cand_${table.name}_${ctx.runId}`);
  await tx.execute(`CREATE TEMP TABLE ${cand} AS ${candidatesSql}`);

  const failing = table.checks.filter((c) => c.action === 'fail').map((c) => c.name);
  if (failing.length > 0) {
    const { rows } = await tx.query(
      `SELECT _reason, count(*) OVER (PARTITION BY _reason) AS n, _detail, _source_file, _source_row FROM ${cand}
       WHERE _reason IN (${failing.map((f) => d.literal(f)).join(', ')}) ORDER BY _batch_id, _source_row LIMIT 5`,
    );
    const first = rows[0];
    if (first) {
      const reason = String(first._reason);
      throw pipelineError({
        code: 'check_failed',
        step,
        table: step,
        file: String(first._source_file),
        message: `Check '${reason}' (action: fail) failed on ${plural(Number(first.n), 'row')} of silver.${table.name}; nothing was written. ${rows
          .filter((r) => r._reason === reason)
          .map((r) => `${String(r._source_file)} row ${Number(r._source_row)}: ${String(r._detail)}`)
          .join('; ')}`,
        hint: `Fix those rows and land the corrected file under the same path (it replaces the bad one), or change the check's action to 'quarantine' to set such rows aside instead.`,
      });
    }
  }

  const warnNames = table.checks.filter((c) => c.action === 'warn').map((c) => c.name);
  const keyCols = table.key.map(q);
  const { rows: stats } = await tx.query(
    `SELECT _reason, _op = 'delete' AS is_delete, count(*) AS n${warnNames.map((w, i) => `, count_if(NOT ${q(`__warn__${w}`)}) AS w${i}`).join('')}
       ${keyCols.length > 0 ? `, count_if(${keyCols.map((k) => `${k} IS NULL`).join(' OR ')}) AS null_keys` : ''}
     FROM ${cand} GROUP BY 1, 2`,
  );
  let rowsIn = 0;
  let passing = 0;
  let deletes = 0;
  let nullKeys = 0;
  const quarantinedByReason: Record<string, number> = {};
  const warningsByCheck: Record<string, number> = {};
  for (const r of stats) {
    const n = Number(r.n);
    rowsIn += n;
    nullKeys += r._reason === null ? Number(r.null_keys ?? 0) : 0;
    if (r._reason !== null) quarantinedByReason[String(r._reason)] = (quarantinedByReason[String(r._reason)] ?? 0) + n;
    else if (r.is_delete === true) deletes += n;
    else {
      passing += n;
      warnNames.forEach((w, i) => {
        const count = Number(r[`w${i}`] ?? 0);
        if (count > 0) warningsByCheck[w] = (warningsByCheck[w] ?? 0) + count;
      });
    }
  }
  if (nullKeys > 0) {
    const { rows } = await tx.query(`SELECT _source_file, _source_row FROM ${cand} WHERE _reason IS NULL AND (${keyCols.map((k) => `${k} IS NULL`).join(' OR ')}) ORDER BY _batch_id, _source_row LIMIT 5`);
    throw pipelineError({
      code: 'null_key',
      step,
      table: step,
      column: table.key.join(', '),
      message: `${plural(nullKeys, 'row')} of silver.${table.name} ${nullKeys === 1 ? 'has' : 'have'} no ${table.key.join(' + ')} (the key), so ${nullKeys === 1 ? 'it cannot' : 'they cannot'} be merged: ${rows.map((r) => `${String(r._source_file)} row ${Number(r._source_row)}`).join(', ')}. Nothing was written.`,
      hint: `Add a check { name: 'missing_${table.key[0]}', column: '${table.key[0]}', rule: 'not_null' } to silver.${table.name} to quarantine such rows.`,
    });
  }
  const quarantined = Object.values(quarantinedByReason).reduce((a, b) => a + b, 0);
  if (quarantined > 0) {
    const rawColumns = bronzeColumns.map((c) => `${q(rawName(c))} AS ${q(c)}`);
    await tx.execute(
      `INSERT INTO ${d.table('quarantine', table.name)} BY NAME
       SELECT ${[...rawColumns, '_reason', '_detail', ...BRONZE_LINEAGE.map(q), `${ctx.runId} AS _run_id`].join(', ')} FROM ${cand} WHERE _reason IS NOT NULL`,
    );
  }
  return { cand, rowsIn, passing, deletes, quarantined, quarantinedByReason, warningsByCheck };
}
