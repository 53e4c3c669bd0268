import { RefineryError } from '../errors.js';
import type { SqlParam } from './warehouse.js';

/** What went wrong inside the engine, normalised across engines (as drizzle does for unique/not_null/...). */
export type EngineFailureKind =
  | 'syntax'
  | 'missing_object'
  | 'conversion'
  | 'constraint'
  | 'conflict'
  | 'lock'
  | 'io'
  | 'other';

/**
 * The one error type for engine failures: it carries the SQL, its parameters, the engine's own message,
 * a normalised kind, and — once the pipeline knows — the step and table it belongs to.
 */
export class EngineError extends RefineryError {
  readonly sql: string;
  readonly params: readonly SqlParam[];
  readonly failure: EngineFailureKind;
  readonly engineMessage: string;

  constructor(init: { sql: string; params: readonly SqlParam[]; failure: EngineFailureKind; engineMessage: string; cause: unknown; step?: string; table?: string }) {
    super(
      'engine',
      {
        code: `engine_${init.failure}`,
        message: init.engineMessage,
        ...(init.step ? { step: init.step } : {}),
        ...(init.table ? { table: init.table } : {}),
      },
      { cause: init.cause },
    );
    this.name = 'EngineError';
    this.sql = init.sql;
    this.params = init.params;
    this.failure = init.failure;
    this.engineMessage = init.engineMessage;
  }

  /** Lock and write-conflict failures go away on retry; everything else will fail the same way again. */
  get retryable(): boolean {
    return this.failure === 'lock' || this.failure === 'conflict' || this.failure === 'io';
  }
}
