import type { SilverPlan } from '../config/plan.js';
import { pipelineError } from '../errors.js';
import { failpoint } from '../failpoints.js';
import { recordStep } from '../state/run-records.js';
import type { SqlDialect, SqlSession } from '../warehouse/warehouse.js';
import { emptyOutcome, type StepContext, type StepOutcome } from '../orchestrator/run-context.js';
import { BRONZE_LINEAGE, CHANGE_LINEAGE } from './bronze-ingest.js';
import { bronzeBatches } from './bronze-batches.js';
import { logEverything, logKeys, touchedSinceEach, touchedValuesSql } from './change-log.js';
import { stageCandidates } from './silver-candidates.js';
import { mergeCandidates } from './silver-merge.js';
import { applyScd2 } from './silver-scd2.js';
import { compileCandidates, silverColumnsDdl } from './silver-sql.js';
import { readStepState, writeTableState, type TableState } from './table-state.js';
import { applySilverContract } from './silver-contract.js';
import { recordTableSchema } from './schema-history.js';

/** Bronze columns that are lineage, not data. */
const LINEAGE = [...BRONZE_LINEAGE, ...CHANGE_LINEAGE];

type BuildMode = { kind: 'rebuild'; reason: string; referencesOnly?: boolean } | { kind: 'incremental'; reason: string } | { kind: 'up_to_date'; reason: string };

/**
 * bronze → silver (+ quarantine) for one table, in one transaction with its state and step record.
 * `merge` and `scd2` tables take only the bronze batches they have not seen; `replace` tables, changed rules, a
 * changed referenced table, a replaced batch or `--full-refresh` rebuild from all of bronze (replaced batches
 * left out). Nothing is half-written: a `fail` check or a NULL key throws before the transaction commits.
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
    const bronzeColumns = bronzeAll.filter((c) => !(LINEAGE as readonly string[]).includes(c.name));
    const hasOp = bronzeAll.some((c) => c.name === '_op');
    const { maxBatch, replaced } = await bronzeBatches(tx, table.source, bronzeAll.length === 0 ? undefined : d.table('bronze', table.source));
    const { state, inputs: readVersions } = await readStepState(tx, step, table.reads);
    const inputs = JSON.stringify({ reads: JSON.parse(readVersions) as unknown, replaced });
    let mode = decideMode(ctx, table, state, inputs, maxBatch, replaced);
    // A referenced table changed: instead of a rebuild, re-check just the rows whose referenced values changed.
    const recheck = mode.kind === 'rebuild' && mode.referencesOnly && state ? await referencesToRecheck(tx, d, table, state.inputs) : undefined;
    if (recheck) mode = { kind: 'incremental', reason: `re-checked rows whose ${recheck.map((r) => `${r.table}.${r.targetColumn}`).join(', ')} changed` };

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

    const rebuild = mode.kind === 'rebuild';
    // The schema contract decides the table's columns and which rows and values it sets aside, before anything is
    // written (a `freeze` violation throws here). From here on, `table` is the table as it will be built.
    const contract = bronzeAll.length === 0 ? undefined : await applySilverContract(ctx, tx, table, { bronzeColumns, after: rebuild ? 0 : (state?.lastBatchId ?? 0), upTo: maxBatch, excluded: replaced, rebuild });
    table = contract?.plan ?? table;
    const reason = [mode.reason, ...(contract?.notes ?? [])].join('; ');
    if (rebuild) {
      await tx.execute(`DROP TABLE IF EXISTS ${silverTable}`);
      await tx.execute(`DROP TABLE IF EXISTS ${quarantineTable}`);
    }
    await tx.execute(`CREATE TABLE IF NOT EXISTS ${silverTable} (${silverColumnsDdl(d, table)})`);
    await syncQuarantineColumns(ctx, tx, table, bronzeAll);

    const after = rebuild ? 0 : (state?.lastBatchId ?? 0);
    let outcome: StepOutcome;
    const schema = contract?.rules;
    const window = (from: number) => compileCandidates(d, { table, bronzeColumns, hasOp, batches: { after: from, upTo: maxBatch, excluded: replaced }, schema });
    let candidates = window(after);
    if (recheck && recheck.some((r) => r.values.length > 0)) {
      // The batches already consumed, read from bronze.<source> or from `sourceTable` (a view over some of its rows).
      const consumed = (plan: SilverPlan, sourceTable?: string) => compileCandidates(d, { table: plan, bronzeColumns, hasOp, batches: { after: 0, upTo: after, excluded: replaced }, schema, ...(sourceTable ? { sourceTable } : {}) });
      candidates = await prepareRecheck(ctx, tx, table, { consumed, hasOp, bronzeColumns: bronzeColumns.map((c) => c.name) }, candidates, recheck);
    }
    if (bronzeAll.length === 0 || (maxBatch <= after && !(recheck && recheck.some((r) => r.values.length > 0)))) {
      outcome = { ...emptyOutcome(step, 'silver'), status: 'success', message: reason, durationMs: 0 };
      if (rebuild) await logEverything(tx, step, ctx.runId);
    } else {
      const stats = await stageCandidates(ctx, tx, table, bronzeColumns.map((c) => c.name), candidates);
      // Its temporary tables (candidates, winners, rechecked rows) go with the step's connection when the
      // transaction ends: every transaction has a connection of its own, so there is nothing to drop here.
      const result = table.materialize === 'scd2' ? await applyScd2(ctx, tx, table, stats, rebuild, window(0)) : await mergeCandidates(ctx, tx, table, stats, rebuild);
      outcome = {
        ...emptyOutcome(step, 'silver'),
        status: 'success',
        rowsIn: stats.rowsIn,
        rowsWritten: result.written,
        rowsQuarantined: stats.quarantined,
        rowsSuperseded: result.superseded,
        rowsWarned: Object.values(stats.warningsByCheck).reduce((a, b) => a + b, 0),
        quarantinedByReason: stats.quarantinedByReason,
        warningsByCheck: stats.warningsByCheck,
        message: stats.deletes > 0 ? `${reason}; ${stats.deletes} delete${stats.deletes === 1 ? '' : 's'} applied` : reason,
        durationMs: 0,
      };
    }
    const changed = rebuild || contract?.altered || outcome.rowsWritten !== 0 || outcome.rowsSuperseded > 0 || outcome.message?.includes('delete');
    const schemaFingerprint = await recordTableSchema(tx, warehouse, 'silver', table.name, { runId: ctx.runId, at: ctx.clock.now(), reason, rebuilt: rebuild, known: state?.schemaFingerprint });
    await writeTableState(tx, step, { fingerprint: table.fingerprint, lastBatchId: maxBatch, inputs, version: changed ? ctx.runId : (state?.version ?? ctx.runId), schemaFingerprint }, ctx.clock.now());
    const final = { ...outcome, durationMs: ctx.clock.now().getTime() - started.getTime() };
    await record(tx, ctx, final, started);
    failpoint('silver:before-commit');
    return final;
  }, { signal: ctx.signal });
}

function decideMode(ctx: StepContext, table: SilverPlan, state: TableState | undefined, inputs: string, maxBatch: number, replaced: readonly number[]): BuildMode {
  if (ctx.fullRefresh) return { kind: 'rebuild', reason: 'full refresh requested: rebuilt from all of bronze' };
  if (!state) return { kind: 'rebuild', reason: 'first build' };
  if (state.fingerprint !== table.fingerprint) return { kind: 'rebuild', reason: 'its rules changed since the last build: rebuilt from all of bronze' };
  const before = parseInputs(state.inputs);
  const now = parseInputs(inputs);
  if (JSON.stringify(before.reads) !== JSON.stringify(now.reads)) {
    // Only the referenced tables changed (no replaced batch): a merge table may re-check just what they touched.
    const newlyReplacedAny = replaced.some((b) => !before.replaced.includes(b) && b <= state.lastBatchId);
    return { kind: 'rebuild', reason: `${table.reads.join(', ')} changed: rebuilt so its references are checked again`, referencesOnly: table.materialize === 'merge' && !newlyReplacedAny };
  }
  // A batch this table already consumed was replaced (a re-landed file, a new full extract): its rows must go.
  const newlyReplaced = replaced.filter((b) => !before.replaced.includes(b) && b <= state.lastBatchId);
  if (newlyReplaced.length > 0) return { kind: 'rebuild', reason: `bronze batch${newlyReplaced.length > 1 ? 'es' : ''} ${newlyReplaced.join(', ')} replaced by a newer version: rebuilt from bronze` };
  if (maxBatch > state.lastBatchId) {
    return table.materialize === 'replace'
      ? { kind: 'rebuild', reason: 'new bronze batches: rebuilt (materialize: replace)' }
      : { kind: 'incremental', reason: 'merged new bronze batches' };
  }
  return { kind: 'up_to_date', reason: 'up to date: no new bronze batches and no rule changes' };
}

interface Recheck {
  readonly column: string;
  readonly table: string;
  readonly targetColumn: string;
  readonly values: readonly string[];
  /** The same values as SQL (column `v`), read from the change log inside the engine. */
  readonly valuesSql: string;
}

/** The referenced values each `references` check must re-check, or undefined when a referenced table was rebuilt. */
async function referencesToRecheck(tx: SqlSession, d: SqlDialect, table: SilverPlan, stateInputs: string): Promise<Recheck[] | undefined> {
  const before = parseInputs(stateInputs).reads as Record<string, number>;
  const out: Recheck[] = [];
  for (const ref of table.references) {
    const since = new Map([[ref.table, before[ref.table] ?? 0]]);
    const values = (await touchedSinceEach(tx, ref.targetColumn, since)).get(ref.table) ?? [];
    if (values === 'all') return undefined;
    out.push({ ...ref, values, valuesSql: touchedValuesSql(d, ref.targetColumn, since) });
  }
  return out;
}

/**
 * Takes the rows whose referenced values changed out of quarantine (and, when a referenced value may have gone,
 * out of silver: every consumed version of their keys), and returns candidates that are the new batches plus those
 * rows, to be judged again.
 *
 * Cost is what makes this worth it (1,000 changed customers out of 1,000,000 re-check ~500 of 500,000 orders), so:
 * the rows are located with the checks left out (no `references` subquery runs over bronze: only key and
 * referenced columns are computed), and only the located rows, copied to a scratch table, are judged with every
 * check. When every changed referenced value still exists, rows in silver cannot start failing (nor can a
 * superseded version start winning), so only quarantine is searched — not the whole of bronze.
 */
async function prepareRecheck(
  ctx: StepContext,
  tx: SqlSession,
  table: SilverPlan,
  input: { consumed: (plan: SilverPlan, sourceTable?: string) => string; hasOp: boolean; bronzeColumns: readonly string[] },
  newRows: string,
  recheck: readonly Recheck[],
): Promise<string> {
  const d = ctx.warehouse.dialect;
  const q = (n: string): string => d.quoteIdent(n);
  const keys = table.key.map(q);
  const name = (kind: string): string => q(`${kind}_${table.name}_${ctx.runId}`);
  const [values, rk, hits, rows] = [name('recheck_values'), name('recheck_keys'), name('recheck_hits'), name('recheck_rows')];
  // A temporary view the candidate SQL reads instead of bronze.<source>.
  const view = name('recheck_source');
  const active = recheck.filter((r) => r.values.length > 0);
  // The changed referenced values go in a table: a semi-join with it is far cheaper than a long IN (...) list.
  const valueRows = active.map((r) => `SELECT CAST(${d.literal(r.column)} AS VARCHAR) AS ref, CAST(v AS VARCHAR) AS v FROM (${r.valuesSql}) AS t`);
  await tx.execute(`CREATE TEMP TABLE ${values} AS ${valueRows.join(' UNION ALL ')}`);
  const condition = active.map((r) => `CAST(a.${q(r.column)} AS VARCHAR) IN (SELECT v FROM ${values} WHERE ref = ${d.literal(r.column)})`).join(' OR ');
  // Key and referenced columns only: without checks, the engine computes nothing else of the candidate SELECT.
  const located = (sourceTable?: string): string => input.consumed({ ...table, checks: [] }, sourceTable);
  const rowsOf = (from: string): string => `SELECT ${[...input.bronzeColumns.map(q), ...BRONZE_LINEAGE.map(q)].join(', ')} FROM ${from}`;
  const quarantine = d.table('quarantine', table.name);
  let chosen: string;
  if (!input.hasOp && (await stillReferenced(ctx, tx, values, active))) {
    // Quarantined rows keep their raw values and lineage: they are bronze rows, ready to be judged again.
    await tx.execute(`CREATE TEMP VIEW ${view} AS ${rowsOf(quarantine)}`);
    await tx.execute(`CREATE TEMP TABLE ${hits} AS SELECT a._batch_id, a._source_row FROM (${located(view)}) a WHERE ${condition}`);
    chosen = `${rowsOf(quarantine)} WHERE (_batch_id, _source_row) IN (SELECT _batch_id, _source_row FROM ${hits})`;
  } else {
    // One pass over the consumed batches: each row's key, lineage, and whether it references a changed value.
    await tx.execute(`CREATE TEMP TABLE ${hits} AS SELECT ${keys.map((k) => `a.${k}`).join(', ')}, a._batch_id, a._source_row, coalesce(${condition}, FALSE) AS _hit FROM (${located()}) a`);
    await tx.execute(`CREATE TEMP TABLE ${rk} AS SELECT DISTINCT ${keys.join(', ')} FROM ${hits} WHERE _hit`);
    const inRecheck = (alias: string): string => `(${keys.map((k) => `${alias}.${k}`).join(', ')}) IN (SELECT ${keys.join(', ')} FROM ${rk})`;
    // Every consumed version of those keys is judged again below, together with the new batches.
    chosen = `SELECT b.* FROM ${d.table('bronze', table.source)} b WHERE (b._batch_id, b._source_row) IN (SELECT h._batch_id, h._source_row FROM ${hits} h WHERE ${inRecheck('h')})`;
    // The rows leaving silver may carry key values a keyed gold model needs to recompute (an order moving to
    // another customer touches both customers): log them before they go.
    if (table.downstreamKeys.length > 0) await logKeys(tx, d, `silver.${table.name}`, ctx.runId, table.downstreamKeys, `SELECT * FROM ${d.table('silver', table.name)} s WHERE ${inRecheck('s')}`);
    await tx.execute(`DELETE FROM ${d.table('silver', table.name)} AS s WHERE ${inRecheck('s')}`);
  }
  // Only the chosen rows are judged with every check.
  await tx.execute(`CREATE OR REPLACE TEMP VIEW ${view} AS ${chosen}`);
  await tx.execute(`CREATE TEMP TABLE ${rows} AS ${input.consumed(table, view)}`);
  await tx.execute(`DELETE FROM ${quarantine} WHERE (_batch_id, _source_row) IN (SELECT _batch_id, _source_row FROM ${rows})`);
  return `SELECT * FROM (${newRows}) n UNION ALL SELECT * FROM ${rows}`;
}

/**
 * Does every changed referenced value still exist in its table? Then no row that passed a `references` check can
 * fail it now. Values are compared in the referenced column's own type; one that cannot be found (or typed) says no.
 */
async function stillReferenced(ctx: StepContext, tx: SqlSession, values: string, active: readonly Recheck[]): Promise<boolean> {
  const d = ctx.warehouse.dialect;
  for (const r of active) {
    const [, target] = r.table.split('.') as [string, string];
    const type = ctx.plan.silver.find((s) => s.name === target)?.columns.find((c) => c.name === r.targetColumn)?.type;
    if (!type) return false;
    const column = d.quoteIdent(r.targetColumn);
    const { rows } = await tx.query(
      `SELECT count(DISTINCT t.${column}) AS found FROM ${d.table('silver', target)} t
       WHERE t.${column} IN (SELECT TRY_CAST(v AS ${d.sqlType(type)}) FROM ${values} WHERE ref = ${d.literal(r.column)})`,
    );
    if (Number(rows[0]?.found ?? 0) !== new Set(r.values).size) return false;
  }
  return true;
}

/** A silver table's recorded inputs: the versions of the silver tables it reads, and the bronze batches replaced. */
export function parseInputs(inputs: string): { reads: unknown; replaced: number[] } {
  try {
    const parsed = JSON.parse(inputs) as { reads?: unknown; replaced?: number[] };
    // State written before replaced batches were tracked held the read versions alone.
    return 'reads' in parsed ? { reads: parsed.reads, replaced: parsed.replaced ?? [] } : { reads: parsed, replaced: [] };
  } catch {
    return { reads: {}, replaced: [] };
  }
}

async function syncQuarantineColumns(ctx: StepContext, tx: SqlSession, table: SilverPlan, bronzeAll: readonly { name: string; type: string }[]): Promise<void> {
  const d = ctx.warehouse.dialect;
  const quarantineTable = d.table('quarantine', table.name);
  const existing = await ctx.warehouse.introspector.columns('quarantine', table.name, tx);
  if (existing.length === 0) {
    const lineage = BRONZE_LINEAGE.map((c) => `${d.quoteIdent(c)} ${c === '_ingested_at' ? 'TIMESTAMP' : c === '_batch_id' || c === '_source_row' ? 'BIGINT' : 'VARCHAR'}`);
    const data = bronzeAll.filter((c) => !(LINEAGE as readonly string[]).includes(c.name)).map((c) => `${d.quoteIdent(c.name)} ${c.type}`);
    await tx.execute(`CREATE TABLE ${quarantineTable} (${[...data, '_reason VARCHAR', '_detail VARCHAR', ...lineage, '_run_id BIGINT'].join(', ')})`);
    return;
  }
  const have = new Set(existing.map((c) => c.name));
  for (const column of bronzeAll) {
    if (!have.has(column.name) && !(CHANGE_LINEAGE as readonly string[]).includes(column.name)) {
      await tx.execute(`ALTER TABLE ${quarantineTable} ADD COLUMN ${d.quoteIdent(column.name)} ${column.type}`);
    }
  }
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
