import type { Plan, StepPlan } from '../config/plan.js';
import { RefineryError, type ErrorData } from '../errors.js';
import { buildGold } from '../layers/gold-build.js';
import { ingestSource } from '../layers/bronze-ingest.js';
import { ingestDatabase } from '../incremental/database-ingest.js';
import { ingestHttp } from '../incremental/http-ingest.js';
import { buildSilver } from '../layers/silver-build.js';
import { publishAfterStep } from '../layers/publish.js';
import { finishRun, recordAttempt, startRun, StepRecordBuffer, type RunStatus } from '../state/run-records.js';
import { EngineError } from '../warehouse/engine-error.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { systemClock, type Clock } from './clock.js';
import { GraphExecution, type GraphNode, type LiveState, type NodeResult } from './executor.js';
import { emptyOutcome, type ProgressEvent, type RunContext, type StepContext, type StepOutcome } from './run-context.js';
import { outputTables } from '../integrate/integration-plan.js';
import { selectSteps } from './selection.js';
import { runTask } from './task-step.js';
import { runIntegration } from '../integrate/integrate-step.js';
import { openLineageListener } from '../lineage/openlineage-emitter.js';
import type { RunListener } from './run-listener.js';

export interface RunOptions {
  /** Rebuild every silver and gold table from all of bronze. */
  readonly fullRefresh?: boolean;
  readonly clock?: Clock;
  readonly progress?: (event: ProgressEvent) => void;
  /** `--select` expressions; all steps when empty. */
  readonly select?: readonly string[];
  /** Abort to cancel the run: running steps get their signal, nothing half-written is committed. */
  readonly signal?: AbortSignal;
  /** What started the run: manual, schedule:<name>, file, api, pipeline. */
  readonly trigger?: string;
  /** Source of randomness for retry jitter (injected in tests). */
  readonly random?: () => number;
  /** Called whenever a step changes state, with where every step is (for `refinery why` during a run). */
  readonly onLive?: (runId: number, live: () => ReadonlyMap<string, LiveState>) => void;
  /** Told as the run and each step start and end. Default: OpenLineage events (see lineage/); `false` for none. */
  readonly listener?: RunListener | false;
}

export interface RunReport {
  readonly runId: number;
  readonly project: string;
  readonly status: 'success' | 'failed' | 'cancelled';
  readonly startedAt: string;
  readonly endedAt: string;
  readonly durationMs: number;
  /** The interrupted run this one resumed, if any. */
  readonly resumedRunId?: number;
  readonly steps: readonly StepOutcome[];
}

/**
 * Runs the selected steps of the plan as a dependency graph: independent steps in parallel (up to the project's
 * concurrency and pool slots), failures propagated by trigger rule, retryable failures retried with backoff.
 * Each step commits on its own — data, state and step record together — so a killed run resumes cleanly.
 */
export async function runPipeline(plan: Plan, warehouse: Warehouse, options: RunOptions = {}): Promise<RunReport> {
  const clock = options.clock ?? systemClock;
  const startedAt = clock.now();
  const fullRefresh = options.fullRefresh ?? false;
  const selected = selectSteps(plan, options.select ?? []);
  // Steps look up their tables' columns again and again: one catalog read now answers most of those lookups. It
  // reads the catalog on the warehouse's own connection while the run record commits on another.
  const primed = warehouse.introspector.prime?.(['bronze', 'silver', 'quarantine', 'gold']);
  const [{ runId, resumes }] = await Promise.all([
    startRun(warehouse, {
      project: plan.name,
      startedAt,
      fullRefresh,
      trigger: options.trigger ?? 'manual',
      ...(options.select?.length ? { selection: options.select.join(' ') } : {}),
      models: [...plan.silver.map((t) => `silver.${t.name}`), ...plan.gold.map((g) => `gold.${g.name}`), ...plan.integrations.flatMap((i) => outputTables(i))],
    }),
    primed,
  ]);
  const records = new StepRecordBuffer(warehouse, clock);
  const listener = options.listener === false ? undefined : (options.listener ?? openLineageListener(plan, warehouse, { runId, startedAt }, { clock, ...(options.progress ? { progress: options.progress } : {}) }));
  listener?.runStarted(startedAt);
  const ctx: RunContext = { plan, warehouse, clock, runId, runStartedAt: startedAt, fullRefresh, progress: options.progress ?? (() => {}), records };
  const steps = plan.steps.filter((s) => selected.has(s.name));
  const byName = new Map(steps.map((s) => [s.name, s]));
  const nodes: GraphNode[] = steps.map((s) => ({
    name: s.name,
    dependsOn: s.dependsOn,
    trigger: s.trigger,
    retry: s.retry,
    ...(s.timeoutMs === undefined ? {} : { timeoutMs: s.timeoutMs }),
    ...(s.pool ? { pool: s.pool } : {}),
  }));

  const finished = new Map<string, StepOutcome>();
  const publishLive = (): void => {
    // Computing every step's state is O(steps): hand over a getter, so listeners that throttle pay only when they look.
    if (options.onLive) options.onLive(runId, () => execution.live());
  };
  const execution: GraphExecution<StepOutcome> = new GraphExecution<StepOutcome>(nodes, {
    clock,
    concurrency: plan.concurrency,
    pools: plan.pools,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.random ? { random: options.random } : {}),
    run: async (node, attempt, signal) => {
      const step = byName.get(node.name) as StepPlan;
      if (attempt === 1) ctx.progress({ type: 'step-start', step: step.name });
      if (attempt === 1) listener?.stepStarted(step, clock.now());
      // Data steps need no help to resume (they are up to date or take what is new); a task that finished in the
      // interrupted run is not redone.
      const outcome = step.kind === 'task' && resumes?.completed.has(step.name)
        ? await skipCompleted(ctx, step, resumes.runId)
        : await runAndPublish({ ...ctx, attempt, signal }, step);
      return { value: outcome, skipped: outcome.status === 'skipped' };
    },
    onEvent: async (event) => {
      if (event.type === 'node_finished') {
        // Failed, upstream_failed and cancelled steps are recorded as soon as they end, and so are steps a trigger
        // rule skipped without running them (steps that ran record themselves, inside their own transaction).
        const result = event.result as NodeResult<StepOutcome>;
        const step = byName.get(result.name) as StepPlan;
        const outcome = finalOutcome(step, result);
        finished.set(step.name, outcome);
        if (result.status !== 'success' && (result.status !== 'skipped' || result.value === undefined)) recordFinal(ctx, outcome, result);
        ctx.progress({ type: 'step-end', step: step.name, outcome });
        listener?.stepEnded(step, outcome, clock.now());
      } else if (event.type === 'attempt_failed') {
        const { record } = event;
        const data = errorData(event.node, record.error);
        await recordAttempt(warehouse, {
          runId,
          step: event.node,
          attempt: record.attempt,
          startedAt: record.startedAt,
          endedAt: record.endedAt,
          status: 'failed',
          ...(record.retryable === undefined ? {} : { retryable: record.retryable }),
          ...(record.classification ? { classification: record.classification } : {}),
          error: data.message,
          ...(record.nextAttemptAt ? { nextAttemptAt: record.nextAttemptAt } : {}),
        });
        if (record.nextAttemptAt) ctx.progress({ type: 'step-retry', step: event.node, attempt: record.attempt, error: data.message, nextAttemptAt: record.nextAttemptAt });
      }
      publishLive();
    },
  });
  const results = await execution.execute();
  const outcomes = results.map((r) => finished.get(r.name) ?? finalOutcome(byName.get(r.name) as StepPlan, r));
  const status: RunReport['status'] = options.signal?.aborted ? 'cancelled' : outcomes.some((o) => o.status === 'failed') ? 'failed' : 'success';
  const endedAt = clock.now();
  const firstFailure = outcomes.find((o) => o.status === 'failed');
  // Step records still waiting commit with the run's final status.
  await records.finish((tx) => finishRun(tx, runId, status as RunStatus, endedAt, firstFailure?.message));
  await listener?.runEnded(status, endedAt);
  return {
    runId,
    project: plan.name,
    status,
    startedAt: startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    durationMs: endedAt.getTime() - startedAt.getTime(),
    ...(resumes ? { resumedRunId: resumes.runId } : {}),
    steps: outcomes,
  };
}

/** A table step, then its Parquet publication when the table has one (after its data committed). */
async function runAndPublish(ctx: StepContext, step: StepPlan): Promise<StepOutcome> {
  return publishAfterStep(ctx, step, await runStep(ctx, step));
}

function runStep(ctx: StepContext, step: StepPlan): Promise<StepOutcome> {
  const { plan } = ctx;
  switch (step.kind) {
    case 'bronze': {
      const source = plan.sources.find((s) => s.name === step.table) as (typeof plan.sources)[number];
      return source.kind === 'files' ? ingestSource(ctx, source) : source.kind === 'http' ? ingestHttp(ctx, source) : ingestDatabase(ctx, source);
    }
    case 'silver':
      return buildSilver(ctx, plan.silver.find((s) => s.name === step.table) as (typeof plan.silver)[number]);
    case 'gold':
      return buildGold(ctx, plan.gold.find((g) => g.name === step.table) as (typeof plan.gold)[number]);
    case 'integrate':
      return runIntegration(ctx, plan.integrations.find((i) => i.name === step.table) as (typeof plan.integrations)[number]);
    case 'task':
      return runTask(ctx, plan.tasks.find((t) => t.name === step.table) as (typeof plan.tasks)[number]);
  }
}

async function skipCompleted(ctx: RunContext, step: StepPlan, interruptedRunId: number): Promise<StepOutcome> {
  const now = ctx.clock.now();
  const outcome: StepOutcome = { ...emptyOutcome(step.name, step.kind), status: 'skipped', message: `completed in run ${interruptedRunId}, which was interrupted; not redone`, durationMs: 0 };
  ctx.records.add({ runId: ctx.runId, step: step.name, kind: step.kind, status: 'skipped', startedAt: now, endedAt: now, rowsIn: 0, rowsWritten: 0, rowsQuarantined: 0, rowsSuperseded: 0, rowsWarned: 0, message: outcome.message ?? '', details: {} });
  return outcome;
}

function finalOutcome(step: StepPlan, result: NodeResult<StepOutcome>): StepOutcome {
  const timing = {
    attempts: result.attempts.length,
    ...(result.startedAt ? { startedAt: result.startedAt.toISOString() } : {}),
    ...(result.endedAt ? { endedAt: result.endedAt.toISOString() } : {}),
  };
  if (result.value && (result.status === 'success' || result.status === 'skipped')) return { ...result.value, ...timing };
  const base = { ...emptyOutcome(step.name, step.kind), durationMs: result.startedAt && result.endedAt ? result.endedAt.getTime() - result.startedAt.getTime() : 0, ...timing };
  if (result.status === 'failed') {
    const data = errorData(step.name, result.error);
    const message = result.reason && result.attempts.length > 1 ? `${data.message} (${result.reason})` : data.message;
    return { ...base, status: 'failed', message, error: data };
  }
  if (result.status === 'upstream_failed') return { ...base, status: 'upstream_failed', message: `not run: ${result.reason ?? 'an upstream step failed'}` };
  if (result.status === 'skipped') return { ...base, status: 'skipped', message: result.reason ?? 'skipped' };
  return { ...base, status: 'cancelled', message: result.reason ?? 'cancelled' };
}

export function errorData(step: string, error: unknown): ErrorData {
  if (error instanceof EngineError) {
    return { ...error.data, step, message: `${step}: ${error.engineMessage.split('\n')[0]}`, hint: 'Run with --verbose to see the SQL that failed.', sql: error.sql };
  }
  if (error instanceof RefineryError) return { ...error.data, step };
  const message = error instanceof Error ? error.message : String(error);
  const code = typeof (error as { code?: unknown })?.code === 'string' ? String((error as { code: string }).code) : 'step_error';
  return { code, step, message: `${step}: ${message}` };
}

function recordFinal(ctx: RunContext, outcome: StepOutcome, result: NodeResult<StepOutcome>): void {
  const now = ctx.clock.now();
  ctx.records.add({
    runId: ctx.runId,
    step: outcome.step,
    kind: outcome.kind,
    status: outcome.status,
    startedAt: result.startedAt ?? now,
    endedAt: result.endedAt ?? now,
    rowsIn: 0,
    rowsWritten: 0,
    rowsQuarantined: 0,
    rowsSuperseded: 0,
    rowsWarned: 0,
    attempts: result.attempts.length,
    ...(outcome.message ? { message: outcome.message } : {}),
    details: outcome.error ? { error: outcome.error } : {},
  });
}
