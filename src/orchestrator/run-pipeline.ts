import type { Plan, StepPlan } from '../config/plan.js';
import { RefineryError, type ErrorData } from '../errors.js';
import { buildGold } from '../layers/gold-build.js';
import { ingestSource } from '../layers/bronze-ingest.js';
import { buildSilver } from '../layers/silver-build.js';
import { finishRun, recordStep, startRun } from '../state/run-records.js';
import { EngineError } from '../warehouse/engine-error.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { systemClock, type Clock } from './clock.js';
import { emptyOutcome, type ProgressEvent, type RunContext, type StepOutcome } from './run-context.js';

export interface RunOptions {
  /** Rebuild every silver and gold table from all of bronze. */
  readonly fullRefresh?: boolean;
  readonly clock?: Clock;
  readonly progress?: (event: ProgressEvent) => void;
}

export interface RunReport {
  readonly runId: number;
  readonly project: string;
  readonly status: 'success' | 'failed';
  readonly startedAt: string;
  readonly endedAt: string;
  readonly durationMs: number;
  readonly steps: readonly StepOutcome[];
}

/**
 * Runs every step of the plan in dependency order. Each step commits on its own (data, state and step record
 * together), so a run killed midway resumes cleanly: finished steps are not redone and unfinished ones left no
 * trace. A failed step's dependents are marked `upstream_failed` and not run; independent steps still run.
 */
export async function runPipeline(plan: Plan, warehouse: Warehouse, options: RunOptions = {}): Promise<RunReport> {
  const clock = options.clock ?? systemClock;
  const startedAt = clock.now();
  const fullRefresh = options.fullRefresh ?? false;
  const runId = await startRun(warehouse, { project: plan.name, startedAt, fullRefresh });
  const ctx: RunContext = { plan, warehouse, clock, runId, runStartedAt: startedAt, fullRefresh, progress: options.progress ?? (() => {}) };
  const outcomes = new Map<string, StepOutcome>();

  for (const step of plan.steps) {
    const failedUpstream = step.dependsOn.filter((dep) => {
      const status = outcomes.get(dep)?.status;
      return status === 'failed' || status === 'upstream_failed';
    });
    let outcome: StepOutcome;
    if (failedUpstream.length > 0) {
      outcome = { ...emptyOutcome(step.name, step.kind), status: 'upstream_failed', message: `not run: ${failedUpstream.join(', ')} failed`, durationMs: 0 };
      await recordOutcome(ctx, outcome, clock.now());
    } else {
      ctx.progress({ type: 'step-start', step: step.name });
      const stepStarted = clock.now();
      try {
        outcome = await runStep(ctx, step);
      } catch (error) {
        const data = stepErrorData(step, error);
        outcome = { ...emptyOutcome(step.name, step.kind), status: 'failed', message: data.message, error: data, durationMs: clock.now().getTime() - stepStarted.getTime() };
        await recordOutcome(ctx, outcome, stepStarted);
      }
    }
    outcomes.set(step.name, outcome);
    ctx.progress({ type: 'step-end', step: step.name, outcome });
  }

  const steps = plan.steps.map((s) => outcomes.get(s.name) as StepOutcome);
  const failed = steps.find((s) => s.status === 'failed');
  const endedAt = clock.now();
  await finishRun(warehouse, runId, failed ? 'failed' : 'success', endedAt, failed?.message);
  return {
    runId,
    project: plan.name,
    status: failed ? 'failed' : 'success',
    startedAt: startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    durationMs: endedAt.getTime() - startedAt.getTime(),
    steps,
  };
}

function runStep(ctx: RunContext, step: StepPlan): Promise<StepOutcome> {
  switch (step.kind) {
    case 'bronze':
      return ingestSource(ctx, ctx.plan.sources.find((s) => s.name === step.table) as (typeof ctx.plan.sources)[number]);
    case 'silver':
      return buildSilver(ctx, ctx.plan.silver.find((s) => s.name === step.table) as (typeof ctx.plan.silver)[number]);
    case 'gold':
      return buildGold(ctx, ctx.plan.gold.find((g) => g.name === step.table) as (typeof ctx.plan.gold)[number]);
  }
}

function stepErrorData(step: StepPlan, error: unknown): ErrorData {
  if (error instanceof EngineError) {
    return { ...error.data, step: step.name, message: `${step.name}: ${error.engineMessage.split('\n')[0]}`, hint: 'Run with --verbose to see the SQL that failed.' };
  }
  if (error instanceof RefineryError) return { ...error.data, step: step.name };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'internal_error', step: step.name, message: `${step.name}: ${message}`, hint: 'This is a bug in Refinery; please report it with --verbose output.' };
}

async function recordOutcome(ctx: RunContext, outcome: StepOutcome, startedAt: Date): Promise<void> {
  await ctx.warehouse.transaction((tx) =>
    recordStep(tx, {
      runId: ctx.runId,
      step: outcome.step,
      kind: outcome.kind,
      status: outcome.status,
      startedAt,
      endedAt: ctx.clock.now(),
      rowsIn: 0,
      rowsWritten: 0,
      rowsQuarantined: 0,
      rowsSuperseded: 0,
      rowsWarned: 0,
      ...(outcome.message ? { message: outcome.message } : {}),
      details: outcome.error ? { error: outcome.error } : {},
    }),
  );
}
