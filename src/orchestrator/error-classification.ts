import { RefineryError } from '../errors.js';
import { EngineError } from '../warehouse/engine-error.js';

export { FatalError } from './fatal-error.js';

/**
 * Is this failure worth another attempt? Transient trouble — a refused or reset connection, a timeout, HTTP 429
 * or 5xx, a lock or write conflict — is retryable. Mistakes that will fail the same way again — SQL syntax, a
 * missing column, bad config, a `fail` check, a task's deliberate FatalError — are fatal and not retried.
 */
export interface Classification {
  readonly retryable: boolean;
  readonly reason: string;
}

const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

export function classifyError(error: unknown): Classification {
  if (isFatalMarked(error)) return { retryable: false, reason: 'the task marked it fatal' };
  if (error instanceof EngineError) {
    return error.retryable ? { retryable: true, reason: `the engine reported a ${error.failure}` } : { retryable: false, reason: `an engine ${error.failure.replace('_', ' ')} error will not go away on retry` };
  }
  if (error instanceof RefineryError) {
    if (error.data.code === 'step_timeout') return { retryable: true, reason: 'it timed out' };
    if (error.data.code === 'source_unreachable') return { retryable: true, reason: 'the source could not be reached' };
    return { retryable: false, reason: error.kind === 'config' ? 'it is a configuration error' : `${error.code.replaceAll('_', ' ')} will fail the same way again` };
  }
  const e = error as { code?: unknown; status?: unknown; statusCode?: unknown; name?: unknown; cause?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code && RETRYABLE_CODES.has(code)) return { retryable: true, reason: `the connection failed (${code})` };
  const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  if (status !== undefined) {
    if (status === 429 || status === 408 || status >= 500) return { retryable: true, reason: `HTTP ${status}` };
    return { retryable: false, reason: `HTTP ${status} will not change on retry` };
  }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return { retryable: true, reason: 'it timed out' };
  if (e?.cause && e.cause !== error) return classifyError(e.cause);
  // An unknown error from user code: give it the benefit of the doubt, as Airflow and Dagster do.
  return { retryable: true, reason: 'an unclassified error may be transient' };
}

function isFatalMarked(error: unknown): boolean {
  // Duck-typed: the project file's copy of FatalError is a different class object than ours.
  return typeof error === 'object' && error !== null && (error as { fatal?: unknown }).fatal === true;
}
