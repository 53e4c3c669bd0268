/**
 * When may a step run, given how its upstream steps ended? Airflow's vocabulary, with one simplification:
 * an upstream step that was `skipped` because it was already up to date counts as a success.
 */
export type TriggerRule = 'all_success' | 'all_done' | 'none_failed' | 'one_failed';
export type FinalStatus = 'success' | 'skipped' | 'failed' | 'upstream_failed' | 'cancelled';

export type TriggerDecision =
  | { readonly kind: 'wait' }
  | { readonly kind: 'run' }
  | { readonly kind: 'finish'; readonly status: 'upstream_failed' | 'skipped' | 'cancelled'; readonly reason: string };

const isFailure = (s: FinalStatus): boolean => s === 'failed' || s === 'upstream_failed';

/** `upstream` maps each upstream step to its final status, or undefined while it has not finished. */
export function decideTrigger(rule: TriggerRule, upstream: ReadonlyMap<string, FinalStatus | undefined>): TriggerDecision {
  const entries = [...upstream.entries()];
  const finished = entries.filter((e): e is [string, FinalStatus] => e[1] !== undefined);
  const failed = finished.filter(([, s]) => isFailure(s)).map(([n]) => n);
  const cancelled = finished.filter(([, s]) => s === 'cancelled').map(([n]) => n);
  const allDone = finished.length === entries.length;
  switch (rule) {
    case 'one_failed':
      if (failed.length > 0) return { kind: 'run' };
      if (!allDone) return { kind: 'wait' };
      return { kind: 'finish', status: 'skipped', reason: 'trigger one_failed: no upstream step failed' };
    case 'all_done':
      return allDone ? { kind: 'run' } : { kind: 'wait' };
    case 'none_failed':
    case 'all_success':
      if (failed.length > 0) return { kind: 'finish', status: 'upstream_failed', reason: `${failed.join(', ')} failed` };
      if (cancelled.length > 0 && allDone) return { kind: 'finish', status: 'cancelled', reason: `${cancelled.join(', ')} was cancelled` };
      return allDone ? { kind: 'run' } : { kind: 'wait' };
  }
}
