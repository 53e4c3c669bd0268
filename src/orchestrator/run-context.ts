import type { Plan } from '../config/plan.js';
import type { ErrorData } from '../errors.js';
import type { StepRecordBuffer } from '../state/run-records.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { Clock } from './clock.js';

/** What a step sees of the run it belongs to. */
export interface RunContext {
  readonly plan: Plan;
  readonly warehouse: Warehouse;
  readonly clock: Clock;
  readonly runId: number;
  readonly runStartedAt: Date;
  readonly fullRefresh: boolean;
  /** Progress for long work (the CLI shows a spinner); never required for correctness. */
  readonly progress: (event: ProgressEvent) => void;
  /** Group-committed records for steps without a data transaction of their own. */
  readonly records: StepRecordBuffer;
}

/** What one attempt of one step sees: the run, plus its attempt number and abort signal. */
export interface StepContext extends RunContext {
  readonly attempt: number;
  readonly signal: AbortSignal;
}

export type ProgressEvent =
  | { readonly type: 'step-start'; readonly step: string }
  | { readonly type: 'step-detail'; readonly step: string; readonly detail: string }
  | { readonly type: 'step-retry'; readonly step: string; readonly attempt: number; readonly error: string; readonly nextAttemptAt: Date }
  | { readonly type: 'log'; readonly step: string; readonly level: 'info' | 'warn' | 'error'; readonly message: string }
  | { readonly type: 'step-end'; readonly step: string; readonly outcome: StepOutcome };

export type FileOutcomeKind = 'ingested' | 'changed' | 'unchanged' | 'refused' | 'still_refused';

export interface FileOutcome {
  readonly path: string;
  readonly outcome: FileOutcomeKind;
  readonly batchId?: number;
  readonly rows?: number;
  /** Rows kept as raw lines because the engine could not split them (quarantined as malformed_row in silver). */
  readonly malformedRows?: number;
  readonly previousBatchId?: number;
  /** Why a file was refused, with where. */
  readonly reason?: string;
  readonly line?: number;
  /** How the file changed bronze's schema or differed from it (new column, widened type, missing column, rename). */
  readonly schema?: readonly string[];
  /** What was read but looks wrong, in words (a UTF-8 file read as Latin-1). The rows are in bronze all the same. */
  readonly warnings?: readonly string[];
}

export type StepStatus = 'success' | 'skipped' | 'failed' | 'upstream_failed' | 'cancelled';

export interface StepOutcome {
  readonly step: string;
  readonly kind: 'bronze' | 'silver' | 'gold' | 'integrate' | 'task';
  readonly status: StepStatus;
  readonly rowsIn: number;
  readonly rowsWritten: number;
  readonly rowsQuarantined: number;
  readonly rowsSuperseded: number;
  readonly rowsWarned: number;
  readonly quarantinedByReason: Readonly<Record<string, number>>;
  readonly warningsByCheck: Readonly<Record<string, number>>;
  readonly files: readonly FileOutcome[];
  /** A bronze step's input: landing files (each in `files`), a database table, or an HTTP API. */
  readonly reads?: 'files' | 'database' | 'http';
  /** Plain words: why the step was skipped or rebuilt, or what failed. */
  readonly message?: string;
  readonly durationMs: number;
  /** For a failed step: the error, as data. */
  readonly error?: ErrorData;
  /** Partitions this step recomputed (insert_overwrite) or published, as `name=value` paths. */
  readonly partitions?: PartitionReport;
  /** Filled in by the run: attempts made and when the step started and ended. */
  readonly attempts?: number;
  readonly startedAt?: string;
  readonly endedAt?: string;
}

export interface PartitionReport {
  /** Partitions of the table recomputed by an incremental run (insert_overwrite). */
  readonly recomputed?: readonly string[];
  /** Published partition directories rewritten, and removed because they became empty. */
  readonly published?: { readonly path: string; readonly rewritten: readonly string[]; readonly removed: readonly string[]; readonly unchanged: number };
}

export function emptyOutcome(step: string, kind: StepOutcome['kind']): Omit<StepOutcome, 'status' | 'durationMs'> {
  return { step, kind, rowsIn: 0, rowsWritten: 0, rowsQuarantined: 0, rowsSuperseded: 0, rowsWarned: 0, quarantinedByReason: {}, warningsByCheck: {}, files: [] };
}
