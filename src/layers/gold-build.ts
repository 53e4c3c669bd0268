import type { GoldPlan, Plan } from '../config/plan.js';
import { pipelineError } from '../errors.js';
import { failpoint } from '../failpoints.js';
import { EngineError } from '../warehouse/engine-error.js';
import { emptyOutcome, type StepContext, type StepOutcome } from '../orchestrator/run-context.js';
import { record } from './silver-build.js';
import { readStepState, writeTableState } from './table-state.js';
import { logEverything, logKeys, touchedSinceEach, touchedValuesSql } from './change-log.js';
import type { SqlDialect, SqlSession } from '../warehouse/warehouse.js';
import { applyGoldContract, quarantineGoldRows, widenInPlace } from './gold-contract.js';
import { refreshTouchedPartitions } from './gold-partitions.js';
import { formatCount, plural } from '../text.js';
import { recordTableSchema } from './schema-history.js';

/**
 * Builds a gold model: its SELECT materialised as `gold.<name>`, replaced in one transaction so readers never
 * see a half-built table. Skipped when neither its SQL nor any table it reads changed since the last build.
 */
export async function buildGold(ctx: StepContext, model: GoldPlan): Promise<StepOutcome> {
  const step = `gold.${model.name}`;
  const started = ctx.clock.now();
  const d = ctx.warehouse.dialect;
  return ctx.warehouse.transaction(async (tx) => {
    const { state, inputs } = await readStepState(tx, step, model.reads);
    const exists = await ctx.warehouse.introspector.tableExists('gold', model.name, tx);
    let reason: string;
    if (ctx.fullRefresh) reason = 'full refresh requested';
    else if (!state || !exists) reason = 'first build';
    else if (state.fingerprint !== model.fingerprint) reason = 'its SQL changed since the last build';
    else if (state.inputs !== inputs) reason = `rebuilt because ${changedInputs(state.inputs, inputs).join(', ')} changed`;
    else {
      const outcome: StepOutcome = { ...emptyOutcome(step, 'gold'), status: 'skipped', message: 'up to date: nothing it reads changed', durationMs: 0 };
      await record(tx, ctx, outcome, started);
      return outcome;
    }
    // What the model returns against what the table holds, by its schema contract (a `freeze` violation throws).
    // A full refresh keeps to the contract too (so it equals an incremental run); a changed model starts afresh.
    const contract = await applyGoldContract(ctx, tx, model, !state || !exists || state.fingerprint !== model.fingerprint);
    if (contract.rebuildReason) reason = `${reason}; ${contract.rebuildReason}`;
    const notes = contract.notes.map((n) => `; ${n}`).join('');
    // The schema is recorded before the state, which keeps its fingerprint (see recordTableSchema).
    const recordBuild = async (rebuilt: boolean, why: string): Promise<void> => {
      const schemaFingerprint = await recordTableSchema(tx, ctx.warehouse, 'gold', model.name, { runId: ctx.runId, at: ctx.clock.now(), reason: `${why}${notes}`, rebuilt, changes: contract.changes, inputColumns: contract.outputColumns, known: state?.schemaFingerprint });
      await writeTableState(tx, step, { fingerprint: model.fingerprint, lastBatchId: 0, inputs, version: ctx.runId, schemaFingerprint }, ctx.clock.now());
    };
    const incrementalOk = state && exists && state.fingerprint === model.fingerprint && !ctx.fullRefresh && !contract.rebuildReason;
    if (model.partitionBy.length > 0 && state && incrementalOk) {
      await widenInPlace(ctx, tx, model, contract);
      const refreshed = await refreshTouchedPartitions(ctx, tx, model, contract.sql, state.inputs, inputs);
      if (refreshed.kind === 'refreshed') {
        await recordBuild(false, refreshed.message);
        const outcome: StepOutcome = { ...emptyOutcome(step, 'gold'), status: 'success', rowsIn: refreshed.removed, rowsWritten: refreshed.written, message: `${refreshed.message}${notes}`, partitions: { recomputed: refreshed.partitions }, durationMs: ctx.clock.now().getTime() - started.getTime() };
        await record(tx, ctx, outcome, started);
        return outcome;
      }
      reason = `${reason}; ${refreshed.reason}`;
    } else if (model.key && state && incrementalOk) {
      await widenInPlace(ctx, tx, model, contract);
      const incremental = await refreshTouchedKeys(ctx, tx, { ...model, sql: contract.sql }, state.inputs, inputs);
      if (incremental.kind === 'refreshed') {
        await recordBuild(false, incremental.message);
        const outcome: StepOutcome = { ...emptyOutcome(step, 'gold'), status: 'success', rowsIn: incremental.keys, rowsWritten: incremental.written, message: `${incremental.message}${notes}`, durationMs: ctx.clock.now().getTime() - started.getTime() };
        await record(tx, ctx, outcome, started);
        return outcome;
      }
      reason = `${reason}; ${incremental.reason}`;
    }
    try {
      await tx.execute(`CREATE OR REPLACE TABLE ${d.table('gold', model.name)} AS ${contract.sql}`);
      const setAside = await quarantineGoldRows(ctx, tx, model, contract);
      if (setAside > 0) reason = `${reason}; ${plural(setAside, 'row')} set aside in quarantine.gold_${model.name} as schema_violation`;
      await logEverything(tx, step, ctx.runId);
    } catch (error) {
      if (error instanceof EngineError) {
        throw pipelineError(
          {
            code: 'model_sql_failed',
            step,
            table: step,
            message: `gold.${model.name} failed in the engine: ${error.engineMessage.split('\n')[0]}`,
            sql: error.sql,
            hint: `Fix the SQL of gold.${model.name} in refinery.config.ts; try it first with \`refinery query "<sql>"\`.`,
          },
          error,
        );
      }
      throw error;
    }
    const { rows } = await tx.query(`SELECT count(*) AS n FROM ${d.table('gold', model.name)}`);
    const written = Number(rows[0]?.n ?? 0);
    await recordBuild(true, reason);
    const outcome: StepOutcome = { ...emptyOutcome(step, 'gold'), status: 'success', rowsWritten: written, message: `${reason}${notes}`, durationMs: ctx.clock.now().getTime() - started.getTime() };
    await record(tx, ctx, outcome, started);
    failpoint('gold:before-commit');
    return outcome;
  }, { signal: ctx.signal });
}

/**
 * A logged key value (text) as a literal of the key column's type. Integers go in bare: a thousand CAST('42' AS
 * BIGINT) cost the binder more than the delete they filter.
 */
function keyLiteral(d: SqlDialect, value: string, type: string): string {
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/i.test(type) && /^-?[0-9]{1,18}$/.test(value)) return value;
  if (/^VARCHAR$/i.test(type)) return d.literal(value);
  return `CAST(${d.literal(value)} AS ${type})`;
}

type KeyRefresh =
  | { readonly kind: 'refreshed'; readonly keys: number; readonly written: number; readonly message: string }
  | { readonly kind: 'rebuild'; readonly reason: string };

/**
 * A keyed model recomputes only the keys its inputs touched since it was built: delete those rows, insert them
 * again from the model's own SELECT filtered to those keys (the engine pushes the filter into the scans).
 * Asks for a rebuild when a changed input cannot name the keys it touched: it was rebuilt, or it does not log this
 * key at all (a lookup table without the key column, an integration output, a gold model keyed by something else).
 */
async function refreshTouchedKeys(ctx: StepContext, tx: SqlSession, model: GoldPlan, before: string, after: string): Promise<KeyRefresh> {
  const d = ctx.warehouse.dialect;
  const key = model.key as string;
  const previous = JSON.parse(before) as Record<string, number>;
  const current = JSON.parse(after) as Record<string, number>;
  const changed = Object.keys(current).filter((table) => previous[table] !== current[table]);
  const silent = changed.find((table) => !logsKey(ctx.plan, table, key));
  if (silent) return { kind: 'rebuild', reason: `${silent} cannot say which ${key} values it touched (${whyNoKey(ctx.plan, silent, key)}), so every key is recomputed` };
  const since = new Map(changed.map((table) => [table, previous[table] ?? 0]));
  const logged = await touchedSinceEach(tx, key, since);
  const touched = new Set<string>();
  for (const table of changed) {
    const keys = logged.get(table) ?? [];
    if (keys === 'all') return { kind: 'rebuild', reason: `${table} was rebuilt, so every key is recomputed` };
    for (const k of keys) touched.add(k);
  }
  const target = d.table('gold', model.name);
  const columns = await ctx.warehouse.introspector.columns('gold', model.name, tx);
  const keyType = columns.find((c) => c.name === key)?.type;
  if (!keyType) return { kind: 'rebuild', reason: `gold.${model.name} has no ${key} column yet, so every key is recomputed` };
  if (touched.size === 0) return { kind: 'refreshed', keys: 0, written: 0, message: 'inputs changed but touched no key: nothing to recompute' };
  const literals = [...touched].map((v) => keyLiteral(d, v, keyType));
  const values = literals.join(', ');
  // The keys as a table for the delete (a semi-join: a third of the time of a long IN list there), filled from the
  // log inside the engine; but as a list for the model: the engine pushes a constant list into the model's scans,
  // and not a subquery (seven times slower).
  const keys = `touched_${model.name}_${ctx.runId}`;
  await tx.execute(`CREATE TEMP TABLE ${d.quoteIdent(keys)} AS SELECT DISTINCT CAST(v AS ${keyType}) AS k FROM (${touchedValuesSql(d, key, since)}) AS t`);
  const removed = await tx.execute(`DELETE FROM ${target} WHERE ${d.quoteIdent(key)} IN (SELECT k FROM ${d.quoteIdent(keys)})`);
  const written = await tx.execute(`INSERT INTO ${target} SELECT * FROM (${model.sql}) AS model WHERE model.${d.quoteIdent(key)} IN (${values})`);
  const table = `gold.${model.name}`;
  // The keys matter only to a step that reads this table. With none, one "everything changed" row keeps the log
  // honest for a reader added later (it rebuilds) at a fraction of the cost of a row per key.
  const read = [...ctx.plan.silver, ...ctx.plan.gold, ...ctx.plan.integrations].some((s) => s.reads.includes(table));
  if (read) await logKeys(tx, d, table, ctx.runId, [key], `SELECT k AS ${d.quoteIdent(key)} FROM ${d.quoteIdent(keys)}`);
  else await logEverything(tx, table, ctx.runId);
  return { kind: 'refreshed', keys: touched.size, written, message: `recomputed ${plural(touched.size, 'changed key')} (${plural(removed, 'row')} replaced, ${formatCount(written)} written)` };
}

/**
 * Whether `table` logs the values of `key` it touches (refinery.change_log): a silver table that has the column
 * (see downstreamKeys in load-project.ts), or a gold model keyed by it. Any other table logs only its rebuilds.
 */
function logsKey(plan: Plan, table: string, key: string): boolean {
  const [layer, name] = table.split('.') as [string, string];
  if (layer === 'silver') return plan.silver.find((s) => s.name === name)?.downstreamKeys.includes(key) ?? false;
  if (layer === 'gold') return plan.gold.find((g) => g.name === name)?.key === key;
  return false;
}

function whyNoKey(plan: Plan, table: string, key: string): string {
  const [layer, name] = table.split('.') as [string, string];
  if (layer === 'gold') {
    const other = plan.gold.find((g) => g.name === name)?.key;
    return other ? `it is keyed by ${other}` : 'it has no key';
  }
  if (layer === 'silver') return `it has no ${key} column`;
  return `it does not log ${key} values`;
}

function changedInputs(before: string, after: string): string[] {
  const a = JSON.parse(before) as Record<string, number>;
  const b = JSON.parse(after) as Record<string, number>;
  return Object.keys(b).filter((k) => a[k] !== b[k]);
}
