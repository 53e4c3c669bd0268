import type { GoldPlan } from '../config/plan.js';
import { pipelineError } from '../errors.js';
import { failpoint } from '../failpoints.js';
import { EngineError } from '../warehouse/engine-error.js';
import { emptyOutcome, type StepContext, type StepOutcome } from '../orchestrator/run-context.js';
import { record } from './silver-build.js';
import { inputVersions, readTableState, writeTableState } from './table-state.js';
import { logEverything, logKeys, touchedSince } from './change-log.js';
import type { SqlSession } from '../warehouse/warehouse.js';
import { applyGoldContract, quarantineGoldRows, widenInPlace } from './gold-contract.js';
import { refreshTouchedPartitions } from './gold-partitions.js';
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
    const state = await readTableState(tx, step);
    const inputs = await inputVersions(tx, model.reads);
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
    const recordSchema = (rebuilt: boolean, why: string): Promise<void> =>
      recordTableSchema(tx, ctx.warehouse, 'gold', model.name, { runId: ctx.runId, at: ctx.clock.now(), reason: `${why}${notes}`, rebuilt, changes: contract.changes, inputColumns: contract.outputColumns });
    const incrementalOk = state && exists && state.fingerprint === model.fingerprint && !ctx.fullRefresh && !contract.rebuildReason;
    if (model.partitionBy.length > 0 && state && incrementalOk) {
      await widenInPlace(ctx, tx, model, contract);
      const refreshed = await refreshTouchedPartitions(ctx, tx, model, contract.sql, state.inputs, inputs);
      if (refreshed.kind === 'refreshed') {
        await writeTableState(tx, step, { fingerprint: model.fingerprint, lastBatchId: 0, inputs, version: ctx.runId }, ctx.clock.now());
        await recordSchema(false, refreshed.message);
        const outcome: StepOutcome = { ...emptyOutcome(step, 'gold'), status: 'success', rowsIn: refreshed.removed, rowsWritten: refreshed.written, message: `${refreshed.message}${notes}`, partitions: { recomputed: refreshed.partitions }, durationMs: ctx.clock.now().getTime() - started.getTime() };
        await record(tx, ctx, outcome, started);
        return outcome;
      }
      reason = `${reason}; ${refreshed.reason}`;
    } else if (model.key && state && incrementalOk) {
      await widenInPlace(ctx, tx, model, contract);
      const incremental = await refreshTouchedKeys(ctx, tx, { ...model, sql: contract.sql }, state.inputs, inputs);
      if (incremental) {
        await writeTableState(tx, step, { fingerprint: model.fingerprint, lastBatchId: 0, inputs, version: ctx.runId }, ctx.clock.now());
        await recordSchema(false, incremental.message);
        const outcome: StepOutcome = { ...emptyOutcome(step, 'gold'), status: 'success', rowsIn: incremental.keys, rowsWritten: incremental.written, message: `${incremental.message}${notes}`, durationMs: ctx.clock.now().getTime() - started.getTime() };
        await record(tx, ctx, outcome, started);
        return outcome;
      }
      reason = `${reason}; some input was rebuilt, so every key is recomputed`;
    }
    try {
      await tx.execute(`CREATE OR REPLACE TABLE ${d.table('gold', model.name)} AS ${contract.sql}`);
      const setAside = await quarantineGoldRows(ctx, tx, model, contract);
      if (setAside > 0) reason = `${reason}; ${setAside} row${setAside === 1 ? '' : 's'} set aside in quarantine.gold_${model.name} as schema_violation`;
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
    await writeTableState(tx, step, { fingerprint: model.fingerprint, lastBatchId: 0, inputs, version: ctx.runId }, ctx.clock.now());
    await recordSchema(true, reason);
    const outcome: StepOutcome = { ...emptyOutcome(step, 'gold'), status: 'success', rowsWritten: written, message: `${reason}${notes}`, durationMs: ctx.clock.now().getTime() - started.getTime() };
    await record(tx, ctx, outcome, started);
    failpoint('gold:before-commit');
    return outcome;
  }, { signal: ctx.signal });
}

/**
 * A keyed model recomputes only the keys its inputs touched since it was built: delete those rows, insert them
 * again from the model's own SELECT filtered to those keys (the engine pushes the filter into the scans).
 * Returns undefined when some input was rebuilt (or does not log this key), which needs a full rebuild.
 */
async function refreshTouchedKeys(ctx: StepContext, tx: SqlSession, model: GoldPlan, before: string, after: string): Promise<{ keys: number; written: number; message: string } | undefined> {
  const d = ctx.warehouse.dialect;
  const key = model.key as string;
  const previous = JSON.parse(before) as Record<string, number>;
  const current = JSON.parse(after) as Record<string, number>;
  const touched = new Set<string>();
  for (const table of Object.keys(current)) {
    if (previous[table] === current[table]) continue;
    const keys = await touchedSince(tx, table, key, previous[table] ?? 0);
    if (keys === 'all') return undefined;
    for (const k of keys) touched.add(k);
  }
  const target = d.table('gold', model.name);
  const columns = await ctx.warehouse.introspector.columns('gold', model.name, tx);
  const keyType = columns.find((c) => c.name === key)?.type;
  if (!keyType) return undefined;
  if (touched.size === 0) return { keys: 0, written: 0, message: 'inputs changed but touched no key: nothing to recompute' };
  const values = [...touched].map((v) => `CAST(${d.literal(v)} AS ${keyType})`).join(', ');
  const removed = await tx.execute(`DELETE FROM ${target} WHERE ${d.quoteIdent(key)} IN (${values})`);
  const written = await tx.execute(`INSERT INTO ${target} SELECT * FROM (${model.sql}) AS model WHERE model.${d.quoteIdent(key)} IN (${values})`);
  await logKeys(tx, d, `gold.${model.name}`, ctx.runId, [key], `SELECT v AS ${d.quoteIdent(key)} FROM (VALUES ${[...touched].map((v) => `(${d.literal(v)})`).join(', ')}) AS t(v)`);
  return { keys: touched.size, written, message: `recomputed ${touched.size} changed key${touched.size === 1 ? '' : 's'} (${removed} rows replaced, ${written} written)` };
}

function changedInputs(before: string, after: string): string[] {
  const a = JSON.parse(before) as Record<string, number>;
  const b = JSON.parse(after) as Record<string, number>;
  return Object.keys(b).filter((k) => a[k] !== b[k]);
}
