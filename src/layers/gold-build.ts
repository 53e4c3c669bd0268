import type { GoldPlan } from '../config/plan.js';
import { pipelineError } from '../errors.js';
import { EngineError } from '../warehouse/engine-error.js';
import { emptyOutcome, type StepContext, type StepOutcome } from '../orchestrator/run-context.js';
import { record } from './silver-build.js';
import { inputVersions, readTableState, writeTableState } from './table-state.js';

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
    try {
      await tx.execute(`CREATE OR REPLACE TABLE ${d.table('gold', model.name)} AS ${model.sql}`);
    } catch (error) {
      if (error instanceof EngineError) {
        throw pipelineError(
          {
            code: 'model_sql_failed',
            step,
            table: step,
            message: `gold.${model.name} failed in the engine: ${error.engineMessage.split('\n')[0]}`,
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
    const outcome: StepOutcome = { ...emptyOutcome(step, 'gold'), status: 'success', rowsWritten: written, message: reason, durationMs: ctx.clock.now().getTime() - started.getTime() };
    await record(tx, ctx, outcome, started);
    return outcome;
  }, { signal: ctx.signal });
}

function changedInputs(before: string, after: string): string[] {
  const a = JSON.parse(before) as Record<string, number>;
  const b = JSON.parse(after) as Record<string, number>;
  return Object.keys(b).filter((k) => a[k] !== b[k]);
}
