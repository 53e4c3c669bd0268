import type { StepPlan } from '../config/plan.js';
import type { StepOutcome } from './run-context.js';

/**
 * Told as a run and its steps start and end; OpenLineage events are one such listener. A listener must never
 * slow a step down or fail the run: it queues its own work, and the run waits for it only at the very end.
 */
export interface RunListener {
  runStarted(at: Date): void;
  /** A step's first attempt begins (retries are not new starts). */
  stepStarted(step: StepPlan, at: Date): void;
  /** A step that started has ended, however it ended. */
  stepEnded(step: StepPlan, outcome: StepOutcome, at: Date): void;
  /** The run has ended: finish what is queued. */
  runEnded(status: 'success' | 'failed' | 'cancelled', at: Date): Promise<void>;
}
