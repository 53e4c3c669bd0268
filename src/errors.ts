/**
 * Errors are data: a stable `code`, where it happened, what was wrong, what is allowed and what to do next.
 * The CLI renders them; the library never prints. Exit codes follow from the kind:
 * usage and config mistakes exit 2, pipeline and engine failures exit 1.
 */
export type ErrorKind = 'usage' | 'config' | 'input' | 'pipeline' | 'engine' | 'internal';

export interface ErrorLocation {
  /** File the problem is in (project file, landing file). */
  readonly file?: string;
  /** 1-based line in that file. */
  readonly line?: number;
  /** Key path inside the project file, e.g. `silver.customers.checks[2].action`. */
  readonly path?: string;
  readonly table?: string;
  readonly column?: string;
  readonly step?: string;
}

export interface ErrorData extends ErrorLocation {
  readonly code: string;
  readonly message: string;
  /** The offending value, when there is one. */
  readonly value?: unknown;
  /** What would have been accepted. */
  readonly allowed?: string;
  /** The next thing the user should do. */
  readonly hint?: string;
  /** For engine failures: the SQL that failed (shown with --verbose). */
  readonly sql?: string;
}

export class RefineryError extends Error {
  readonly kind: ErrorKind;
  readonly data: ErrorData;
  /** Further problems found in the same pass (config validation reports every issue, not just the first). */
  readonly issues: readonly ErrorData[];

  constructor(kind: ErrorKind, data: ErrorData, options: { cause?: unknown; issues?: readonly ErrorData[] } = {}) {
    super(data.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RefineryError';
    this.kind = kind;
    this.data = data;
    this.issues = options.issues ?? [data];
  }

  get code(): string {
    return this.data.code;
  }

  get exitCode(): 1 | 2 {
    return this.kind === 'usage' || this.kind === 'config' ? 2 : 1;
  }

  toJSON(): Record<string, unknown> {
    return { kind: this.kind, ...this.data, issues: this.issues.length > 1 ? this.issues : undefined };
  }
}

export const usageError = (data: ErrorData): RefineryError => new RefineryError('usage', data);
export const configError = (data: ErrorData, issues?: readonly ErrorData[]): RefineryError =>
  new RefineryError('config', data, issues ? { issues } : {});
export const pipelineError = (data: ErrorData, cause?: unknown): RefineryError =>
  new RefineryError('pipeline', data, { cause });

export function isRefineryError(error: unknown): error is RefineryError {
  return error instanceof RefineryError;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
