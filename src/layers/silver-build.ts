import type { SilverPlan } from '../config/plan.js';
import { pipelineError } from '../errors.js';
import { recordStep } from '../state/run-records.js';
import type { SqlSession } from '../warehouse/warehouse.js';
import { emptyOutcome, type StepContext, type StepOutcome } from '../orchestrator/run-context.js';
import { BRONZE_LINEAGE } from './bronze-ingest.js';
import { beats, compileCandidates, latestFirst, rawName, silverColumnsDdl, SILVER_LINEAGE } from './silver-sql.js';
import { inputVersions, readTableState, writeTableState } from './table-state.js';

type BuildMode = { kind: 'rebuild'; reason: string } | { kind: 'incremental'; reason: string } | { kind: 'up_to_date'; reason: string };

/**
 * bronze → silver (+ quarantine) for one table, in one transaction with its state and step record.
 * `merge` tables take only the bronze batches they have not seen; `replace` tables, changed rules, a changed
 * referenced table or `--full-refresh` rebuild from all of bronze. Nothing is half-written: a `fail` check or
 * a NULL key throws before the transaction commits.
 */
export async function buildSilver(ctx: StepContext, table: SilverPlan): Promise<StepOutcome> {
  const step = `silver.${table.name}`;
  const started = ctx.clock.now();
  const { warehouse } = ctx;
  const d = warehouse.dialect;
  const silverTable = d.table('silver', table.name);
  const quarantineTable = d.table('quarantine', table.name);

  return warehouse.transaction(async (tx) => {
    const bronzeAll = await warehouse.introspector.columns('bronze', table.source, tx);
    const bronzeColumns = bronzeAll.filter((c) => !(BRONZE_LINEAGE as readonly string[]).includes(c.name));
    const maxBatch = bronzeAll.length === 0 ? 0 : Number((await tx.query(`SELECT coalesce(max(_batch_id), 0) AS m FROM ${d.table('bronze', table.source)}`)).rows[0]?.m ?? 0);
    const state = await readTableState(tx, step);
    const inputs = await inputVersions(tx, table.reads);
    const mode = decideMode(ctx, table, state, inputs, maxBatch);

    if (mode.kind === 'up_to_date') {
      const outcome: StepOutcome = { ...emptyOutcome(step, 'silver'), status: 'skipped', message: mode.reason, durationMs: ctx.clock.now().getTime() - started.getTime() };
      await record(tx, ctx, outcome, started);
      return outcome;
    }

    const missing = table.columns.filter((c) => !c.sql && bronzeAll.length > 0 && !bronzeColumns.some((b) => b.name === c.from));
    if (missing.length > 0) {
      throw pipelineError({
        code: 'missing_raw_column',
        step,
        table: `bronze.${table.source}`,
        column: missing[0]?.from,
        message: `silver.${table.name} reads ${missing.map((m) => `'${m.from}'`).join(', ')}, but no file landed for source '${table.source}' has ${missing.length > 1 ? 'these columns' : 'that column'}. bronze.${table.source} has: ${bronzeColumns.map((c) => c.name).join(', ')}.`,
        hint: `Fix the column name under silver.${table.name}.columns (or its 'from'), or land files that have the column.`,
      });
    }

    if (mode.kind === 'rebuild') {
      await tx.execute(`DROP TABLE IF EXISTS ${silverTable}`);
      await tx.execute(`DROP TABLE IF EXISTS ${quarantineTable}`);
    }
    await tx.execute(`CREATE TABLE IF NOT EXISTS ${silverTable} (${silverColumnsDdl(d, table)})`);
    await syncQuarantineColumns(ctx, tx, table, bronzeAll);

    const after = mode.kind === 'rebuild' ? 0 : (state?.lastBatchId ?? 0);
    let outcome: StepOutcome;
    if (bronzeAll.length === 0 || maxBatch <= after) {
      outcome = { ...emptyOutcome(step, 'silver'), status: 'success', message: mode.reason, durationMs: 0 };
    } else {
      outcome = await applyBatches(ctx, tx, table, bronzeColumns.map((c) => c.name), compileCandidates(d, { table, bronzeColumns, batches: { after, upTo: maxBatch } }), mode);
    }
    const changed = mode.kind === 'rebuild' || outcome.rowsWritten > 0 || outcome.rowsSuperseded > 0;
    await writeTableState(tx, step, { fingerprint: table.fingerprint, lastBatchId: maxBatch, inputs, version: changed ? ctx.runId : (state?.version ?? ctx.runId) }, ctx.clock.now());
    const final = { ...outcome, durationMs: ctx.clock.now().getTime() - started.getTime() };
    await record(tx, ctx, final, started);
    return final;
  }, { signal: ctx.signal });
}

function decideMode(ctx: StepContext, table: SilverPlan, state: Awaited<ReturnType<typeof readTableState>>, inputs: string, maxBatch: number): BuildMode {
  if (ctx.fullRefresh) return { kind: 'rebuild', reason: 'full refresh requested: rebuilt from all of bronze' };
  if (!state) return { kind: 'rebuild', reason: 'first build' };
  if (state.fingerprint !== table.fingerprint) return { kind: 'rebuild', reason: 'its rules changed since the last build: rebuilt from all of bronze' };
  if (state.inputs !== inputs) {
    return { kind: 'rebuild', reason: `${table.reads.join(', ')} changed: rebuilt so its references are checked again` };
  }
  if (maxBatch > state.lastBatchId) {
    return table.materialize === 'replace'
      ? { kind: 'rebuild', reason: 'new bronze batches: rebuilt (materialize: replace)' }
      : { kind: 'incremental', reason: 'merged new bronze batches' };
  }
  return { kind: 'up_to_date', reason: 'up to date: no new bronze batches and no rule changes' };
}

async function syncQuarantineColumns(ctx: StepContext, tx: SqlSession, table: SilverPlan, bronzeAll: readonly { name: string; type: string }[]): Promise<void> {
  const d = ctx.warehouse.dialect;
  const quarantineTable = d.table('quarantine', table.name);
  const existing = await ctx.warehouse.introspector.columns('quarantine', table.name, tx);
  if (existing.length === 0) {
    const lineage = BRONZE_LINEAGE.map((c) => `${d.quoteIdent(c)} ${c === '_ingested_at' ? 'TIMESTAMP' : c === '_batch_id' || c === '_source_row' ? 'BIGINT' : 'VARCHAR'}`);
    const data = bronzeAll.filter((c) => !(BRONZE_LINEAGE as readonly string[]).includes(c.name)).map((c) => `${d.quoteIdent(c.name)} ${c.type}`);
    await tx.execute(`CREATE TABLE ${quarantineTable} (${[...data, '_reason VARCHAR', '_detail VARCHAR', ...lineage, '_run_id BIGINT'].join(', ')})`);
    return;
  }
  const have = new Set(existing.map((c) => c.name));
  for (const column of bronzeAll) {
    if (!have.has(column.name)) await tx.execute(`ALTER TABLE ${quarantineTable} ADD COLUMN ${d.quoteIdent(column.name)} ${column.type}`);
  }
}

async function applyBatches(
  ctx: StepContext,
  tx: SqlSession,
  table: SilverPlan,
  bronzeColumns: readonly string[],
  candidatesSql: string,
  mode: BuildMode,
): Promise<StepOutcome> {
  const step = `silver.${table.name}`;
  const d = ctx.warehouse.dialect;
  const q = (n: string): string => d.quoteIdent(n);
  const silverTable = d.table('silver', table.name);
  const cand = q(`cand_${table.name}_${ctx.runId}`);
  await tx.execute(`CREATE TEMP TABLE ${cand} AS ${candidatesSql}`);

  const failing = table.checks.filter((c) => c.action === 'fail').map((c) => c.name);
  if (failing.length > 0) {
    const { rows } = await tx.query(
      `SELECT _reason, _detail, _source_file, _source_row FROM ${cand} WHERE _reason IN (${failing.map((f) => d.literal(f)).join(', ')}) ORDER BY _batch_id, _source_row LIMIT 5`,
    );
    if (rows.length > 0) {
      const { rows: n } = await tx.query(`SELECT count(*) AS n FROM ${cand} WHERE _reason IN (${failing.map((f) => d.literal(f)).join(', ')})`);
      const first = rows[0] as Record<string, unknown>;
      throw pipelineError({
        code: 'check_failed',
        step,
        table: step,
        file: String(first._source_file),
        message: `Check '${String(first._reason)}' (action: fail) failed on ${Number(n[0]?.n)} row(s) of silver.${table.name}; nothing was written. ${rows
          .map((r) => `${String(r._source_file)} row ${Number(r._source_row)}: ${String(r._detail)}`)
          .join('; ')}`,
        hint: `Fix those rows in the landing file and land it again, or change the check's action to 'quarantine' to set such rows aside instead.`,
      });
    }
  }

  const warnNames = table.checks.filter((c) => c.action === 'warn').map((c) => c.name);
  const keyCols = table.key.map(q);
  const { rows: stats } = await tx.query(
    `SELECT _reason, count(*) AS n${warnNames.map((w, i) => `, count_if(NOT ${q(`__warn__${w}`)}) AS w${i}`).join('')}
       ${keyCols.length > 0 ? `, count_if(${keyCols.map((k) => `${k} IS NULL`).join(' OR ')}) AS null_keys` : ''}
     FROM ${cand} GROUP BY _reason`,
  );
  let rowsIn = 0;
  let passing = 0;
  let nullKeys = 0;
  const quarantinedByReason: Record<string, number> = {};
  const warningsByCheck: Record<string, number> = {};
  for (const r of stats) {
    const n = Number(r.n);
    rowsIn += n;
    if (r._reason === null) {
      passing = n;
      nullKeys = Number(r.null_keys ?? 0);
      warnNames.forEach((w, i) => {
        const count = Number(r[`w${i}`] ?? 0);
        if (count > 0) warningsByCheck[w] = count;
      });
    } else quarantinedByReason[String(r._reason)] = n;
  }
  if (nullKeys > 0) {
    const { rows } = await tx.query(`SELECT _source_file, _source_row FROM ${cand} WHERE _reason IS NULL AND (${keyCols.map((k) => `${k} IS NULL`).join(' OR ')}) ORDER BY _batch_id, _source_row LIMIT 5`);
    throw pipelineError({
      code: 'null_key',
      step,
      table: step,
      column: table.key.join(', '),
      message: `${nullKeys} row(s) of silver.${table.name} have no ${table.key.join(' + ')} (the key), so they cannot be merged: ${rows.map((r) => `${String(r._source_file)} row ${Number(r._source_row)}`).join(', ')}. Nothing was written.`,
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

  const silverCols = [...table.columns.map((c) => q(c.name)), ...SILVER_LINEAGE.map(q)].join(', ');
  let written: number;
  let superseded: number;
  if (table.key.length === 0) {
    written = await tx.execute(`INSERT INTO ${silverTable} (${silverCols}) SELECT ${silverCols} FROM ${cand} WHERE _reason IS NULL`);
    superseded = 0;
  } else {
    const winners = `(SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY ${keyCols.join(', ')} ORDER BY ${latestFirst(d, table)}) AS _rank FROM ${cand} WHERE _reason IS NULL) ranked WHERE _rank = 1)`;
    if (mode.kind === 'rebuild') {
      written = await tx.execute(`INSERT INTO ${silverTable} (${silverCols}) SELECT ${silverCols} FROM ${winners} w`);
      superseded = passing - written;
    } else {
      const win = q(`win_${table.name}_${ctx.runId}`);
      await tx.execute(`CREATE TEMP TABLE ${win} AS SELECT * FROM ${winners} w`);
      const winnerCount = passing === 0 ? 0 : Number((await tx.query(`SELECT count(*) AS n FROM ${win}`)).rows[0]?.n ?? 0);
      const sameKey = table.key.map((k) => `s.${q(k)} = w.${q(k)}`).join(' AND ');
      // An existing row is replaced only when the new version beats it; an older version never overwrites a newer one.
      const replaced = await tx.execute(`DELETE FROM ${silverTable} AS s USING ${win} AS w WHERE ${sameKey} AND ${beats(d, table, 'w', 's')}`);
      written = await tx.execute(
        `INSERT INTO ${silverTable} (${silverCols}) SELECT ${silverCols} FROM ${win} AS w WHERE NOT EXISTS (SELECT 1 FROM ${silverTable} AS s WHERE ${sameKey})`,
      );
      superseded = passing - winnerCount + replaced + (winnerCount - written);
      await tx.execute(`DROP TABLE ${win}`);
    }
  }
  await tx.execute(`DROP TABLE ${cand}`);
  return {
    ...emptyOutcome(step, 'silver'),
    status: 'success',
    rowsIn,
    rowsWritten: written,
    rowsQuarantined: quarantined,
    rowsSuperseded: superseded,
    rowsWarned: Object.values(warningsByCheck).reduce((a, b) => a + b, 0),
    quarantinedByReason,
    warningsByCheck,
    message: mode.reason,
    durationMs: 0,
  };
}

export async function record(tx: SqlSession, ctx: StepContext, outcome: StepOutcome, started: Date): Promise<void> {
  await recordStep(tx, {
    runId: ctx.runId,
    step: outcome.step,
    kind: outcome.kind,
    status: outcome.status === 'failed' ? 'failed' : outcome.status,
    startedAt: started,
    endedAt: ctx.clock.now(),
    rowsIn: outcome.rowsIn,
    rowsWritten: outcome.rowsWritten,
    rowsQuarantined: outcome.rowsQuarantined,
    rowsSuperseded: outcome.rowsSuperseded,
    rowsWarned: outcome.rowsWarned,
    attempts: ctx.attempt,
    ...(outcome.message ? { message: outcome.message } : {}),
    details: { quarantinedByReason: outcome.quarantinedByReason, warningsByCheck: outcome.warningsByCheck },
  });
}
