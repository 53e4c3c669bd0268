import type { TaskPlan } from '../config/plan.js';
import type { TaskContext } from '../config/types.js';
import { emptyOutcome, type StepContext, type StepOutcome } from './run-context.js';

/**
 * Runs a custom task: the user's function gets the warehouse, a logger, its attempt number and an abort signal.
 * Its step record is written once it returns; what the task writes to the warehouse is its own to make atomic.
 */
export async function runTask(ctx: StepContext, task: TaskPlan): Promise<StepOutcome> {
  const started = ctx.clock.now();
  // Log lines go to the console as they happen and into the step record, so `show-run` shows them later.
  const lines: { at: string; level: string; message: string }[] = [];
  const log = (level: 'info' | 'warn' | 'error') => (message: string) => {
    lines.push({ at: ctx.clock.now().toISOString(), level, message: String(message) });
    ctx.progress({ type: 'log', step: task.name, level, message: String(message) });
  };
  const context: TaskContext = {
    step: task.name,
    runId: ctx.runId,
    attempt: ctx.attempt,
    signal: ctx.signal,
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    warehouse: { query: (sql, params) => ctx.warehouse.query(sql, params), execute: (sql, params) => ctx.warehouse.execute(sql, params) },
    now: () => ctx.clock.now(),
  };
  const returned = await task.run(context);
  const ended = ctx.clock.now();
  const message = typeof returned === 'string' ? returned : undefined;
  const outcome: StepOutcome = { ...emptyOutcome(task.name, 'task'), status: 'success', ...(message ? { message } : {}), durationMs: ended.getTime() - started.getTime() };
  ctx.records.add({
    runId: ctx.runId,
    step: task.name,
    kind: 'task',
    status: 'success',
    startedAt: started,
    endedAt: ended,
    rowsIn: 0,
    rowsWritten: 0,
    rowsQuarantined: 0,
    rowsSuperseded: 0,
    rowsWarned: 0,
    attempts: ctx.attempt,
    ...(message ? { message } : {}),
    details: lines.length > 0 ? { logs: lines } : {},
  });
  return outcome;
}
