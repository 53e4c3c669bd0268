import type { Plan } from '../config/plan.js';
import type { SqlSession } from '../warehouse/warehouse.js';
import type { LiveState } from './executor.js';
import { formatMs } from './durations.js';

/**
 * `refinery why <step>`: one plain sentence on why a step is where it is — waiting (for which upstream, pool slot
 * or retry), skipped, failed (and why it was or was not retried), or not run (which upstream failed, followed to
 * the root cause).
 */
export interface StepExplanation {
  readonly step: string;
  readonly runId?: number;
  readonly state: string;
  readonly sentence: string;
}

export function explainLive(step: string, state: LiveState, now: Date, concurrency: number): StepExplanation {
  switch (state.state) {
    case 'waiting_upstream':
      return { step, state: 'waiting', sentence: `${step} is waiting for ${list(state.on)} to finish.` };
    case 'waiting_slot':
      return {
        step,
        state: 'waiting',
        sentence: state.pool
          ? `${step} is ready but waiting for a slot in pool '${state.pool}', held by ${list(state.holders)}.`
          : `${step} is ready but waiting for a free slot: ${state.holders.length} steps are running (${state.holders.join(', ')}) and concurrency is ${concurrency}.`,
      };
    case 'running':
      return { step, state: 'running', sentence: `${step} is running attempt ${state.attempt}, started ${formatMs(now.getTime() - new Date(state.since).getTime())} ago.` };
    case 'waiting_retry': {
      const due = new Date(state.nextAttemptAt);
      const wait = due.getTime() - now.getTime();
      return {
        step,
        state: 'waiting_retry',
        sentence: `${step} attempt ${state.attempt} failed (${state.lastError}); attempt ${state.attempt + 1} is due at ${due.toISOString()}${wait > 0 ? ` (in ${formatMs(wait)})` : ''}.`,
      };
    }
    case 'done':
      return { step, state: state.status, sentence: `${step} ended ${state.status}${state.reason ? `: ${state.reason}` : ''}.` };
  }
}

/** Explains a step of a finished (or interrupted) run from the run records. */
export async function explainRecorded(session: SqlSession, plan: Plan, step: string, runId?: number): Promise<StepExplanation> {
  const { rows: runs } = await session.query(
    runId === undefined ? `SELECT run_id, status, selection FROM refinery.runs ORDER BY run_id DESC LIMIT 1` : `SELECT run_id, status, selection FROM refinery.runs WHERE run_id = $1`,
    runId === undefined ? [] : [runId],
  );
  const run = runs[0];
  if (!run) return { step, state: 'never_run', sentence: runId === undefined ? `${step} has never run: the project has no runs yet. Run \`refinery run\`.` : `There is no run ${runId}.` };
  const id = Number(run.run_id);
  const { rows } = await session.query(`SELECT status, message, attempts, details FROM refinery.steps WHERE run_id = $1 AND step = $2`, [id, step]);
  const record = rows[0];
  if (!record) {
    if (run.status === 'running' || run.status === 'interrupted') return { step, runId: id, state: 'not_reached', sentence: `Run ${id} ${run.status === 'running' ? 'is still running' : 'was interrupted'} before ${step} finished; the next run resumes it.` };
    return { step, runId: id, state: 'not_selected', sentence: `Run ${id} did not include ${step}${run.selection ? ` (it selected ${String(run.selection)})` : ''}.` };
  }
  const status = String(record.status);
  const message = record.message === null ? '' : String(record.message);
  const attempts = Number(record.attempts ?? 1);
  switch (status) {
    case 'success':
      return { step, runId: id, state: status, sentence: `${step} succeeded in run ${id}${attempts > 1 ? ` on attempt ${attempts}` : ''}${message ? `: ${message}` : ''}.` };
    case 'skipped':
      return { step, runId: id, state: status, sentence: `${step} was skipped in run ${id}: ${message || 'nothing to do'}.` };
    case 'failed': {
      const { rows: last } = await session.query(`SELECT classification, retryable FROM refinery.attempts WHERE run_id = $1 AND step = $2 ORDER BY attempt DESC LIMIT 1`, [id, step]);
      const classification = last[0]?.classification;
      const retried = last[0]?.retryable === false ? ` It was not retried: ${String(classification)}.` : attempts > 1 ? ` It failed all ${attempts} attempts it was allowed.` : ' It had no retries configured.';
      return { step, runId: id, state: status, sentence: `${step} failed in run ${id}: ${message.replace(new RegExp(`^${escape(step)}: `), '')}.${retried}` };
    }
    case 'upstream_failed': {
      const root = await rootCause(session, plan, id, step);
      return { step, runId: id, state: status, sentence: `${step} did not run in run ${id} because ${root.chain.join(' ← ')} failed${root.message ? ` (${root.message})` : ''}.` };
    }
    default:
      return { step, runId: id, state: status, sentence: `${step} ended ${status} in run ${id}${message ? `: ${message}` : ''}.` };
  }
}

/** Follows upstream_failed links back to the step that actually failed. */
async function rootCause(session: SqlSession, plan: Plan, runId: number, step: string): Promise<{ chain: string[]; message?: string }> {
  const chain: string[] = [];
  let current = step;
  for (let i = 0; i < 100; i++) {
    const deps = plan.steps.find((s) => s.name === current)?.dependsOn ?? [];
    if (deps.length === 0) break;
    const { rows } = await session.query(
      `SELECT step, status, message FROM refinery.steps WHERE run_id = $1 AND step IN (${deps.map((_, k) => `$${k + 2}`).join(', ')}) AND status IN ('failed', 'upstream_failed') ORDER BY status = 'failed' DESC, step LIMIT 1`,
      [runId, ...deps],
    );
    const upstream = rows[0];
    if (!upstream) break;
    current = String(upstream.step);
    chain.unshift(current);
    if (upstream.status === 'failed') return { chain: [current], message: String(upstream.message ?? '').replace(new RegExp(`^${escape(current)}: `), '') };
  }
  return { chain: chain.length > 0 ? chain : ['an upstream step'] };
}

function list(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? 'nothing';
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
