import { RefineryError } from '../errors.js';
import type { Clock } from './clock.js';
import { classifyError } from './error-classification.js';
import { retryDelay, type RetryPolicy } from './retry-policy.js';
import { decideTrigger, type FinalStatus, type TriggerRule } from './trigger-rules.js';

/**
 * A dependency graph executor: independent steps run in parallel up to a global limit and per-pool limits;
 * failures propagate by trigger rule; retryable failures are retried with backoff (the slot is released while a
 * step waits); each attempt gets an abort signal that fires on timeout or cancellation. It knows nothing about
 * warehouses: `run` does the work. All waiting goes through the injected Clock.
 */
export interface GraphNode {
  readonly name: string;
  readonly dependsOn: readonly string[];
  readonly trigger: TriggerRule;
  readonly retry: RetryPolicy;
  readonly timeoutMs?: number;
  readonly pool?: string;
}

export interface AttemptRecord {
  readonly attempt: number;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly status: 'success' | 'skipped' | 'failed' | 'cancelled';
  readonly error?: unknown;
  readonly retryable?: boolean;
  readonly classification?: string;
  /** When the next attempt is due, if one was scheduled. */
  readonly nextAttemptAt?: Date;
}

export interface NodeResult<T> {
  readonly name: string;
  readonly status: FinalStatus;
  readonly attempts: readonly AttemptRecord[];
  readonly value?: T;
  readonly error?: unknown;
  readonly reason?: string;
  readonly startedAt?: Date;
  readonly endedAt?: Date;
}

/** Where a step is right now; what `refinery why` reads while a run is in progress. */
export type LiveState =
  | { readonly state: 'waiting_upstream'; readonly on: readonly string[] }
  | { readonly state: 'waiting_slot'; readonly pool?: string; readonly holders: readonly string[] }
  | { readonly state: 'running'; readonly attempt: number; readonly since: Date }
  | { readonly state: 'waiting_retry'; readonly attempt: number; readonly nextAttemptAt: Date; readonly lastError: string }
  | { readonly state: 'done'; readonly status: FinalStatus; readonly reason?: string };

export type ExecutorEvent =
  | { readonly type: 'attempt_started'; readonly node: string; readonly attempt: number; readonly at: Date }
  | { readonly type: 'attempt_failed'; readonly node: string; readonly record: AttemptRecord }
  | { readonly type: 'node_finished'; readonly node: string; readonly result: NodeResult<unknown> };

export interface ExecutorOptions<T> {
  readonly clock: Clock;
  readonly concurrency: number;
  readonly pools?: Readonly<Record<string, number>>;
  readonly signal?: AbortSignal;
  readonly random?: () => number;
  /** Does the work of one attempt. Resolve with `skipped: true` when there was nothing to do. */
  run(node: GraphNode, attempt: number, signal: AbortSignal): Promise<{ value: T; skipped?: boolean }>;
  onEvent?(event: ExecutorEvent): void | Promise<void>;
}

interface NodeState<T> {
  readonly node: GraphNode;
  phase: 'pending' | 'ready' | 'running' | 'waiting_retry' | 'done';
  attempt: number;
  attempts: AttemptRecord[];
  result?: NodeResult<T>;
  startedAt?: Date;
  controller?: AbortController;
  nextAttemptAt?: Date;
  lastError?: string;
  runningSince?: Date;
}

export class GraphExecution<T> {
  private readonly states = new Map<string, NodeState<T>>();
  private readonly order: string[];
  private readonly position = new Map<string, number>();
  private readonly dependents = new Map<string, string[]>();
  /** Pending steps whose upstream changed since they were last looked at. */
  private readonly toEvaluate = new Set<string>();
  /** Steps allowed to run, in graph order, waiting for a slot. */
  private ready: string[] = [];
  private unfinished: number;
  private wake: () => void = () => {};
  private running = 0;
  private readonly poolUse = new Map<string, Set<string>>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    nodes: readonly GraphNode[],
    private readonly options: ExecutorOptions<T>,
  ) {
    this.order = nodes.map((n) => n.name);
    const names = new Set(this.order);
    nodes.forEach((node, i) => {
      const dependsOn = node.dependsOn.filter((d) => names.has(d));
      this.states.set(node.name, { node: { ...node, dependsOn }, phase: 'pending', attempt: 0, attempts: [] });
      this.position.set(node.name, i);
      for (const d of dependsOn) this.dependents.set(d, [...(this.dependents.get(d) ?? []), node.name]);
      if (dependsOn.length === 0) this.toEvaluate.add(node.name);
    });
    this.unfinished = nodes.length;
  }

  /** Runs the graph to completion (or cancellation) and returns each node's result, in graph order. */
  async execute(): Promise<NodeResult<T>[]> {
    const onAbort = (): void => this.wake();
    this.options.signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        const changed = new Promise<void>((resolve) => (this.wake = resolve));
        if (this.options.signal?.aborted) this.cancelRemaining();
        this.advance();
        if (this.unfinished === 0) break;
        await changed;
      }
      await Promise.all(this.inFlight);
    } finally {
      this.options.signal?.removeEventListener('abort', onAbort);
    }
    return this.order.map((n) => this.states.get(n)?.result as NodeResult<T>);
  }

  /** Where every step is right now. */
  live(): Map<string, LiveState> {
    const out = new Map<string, LiveState>();
    const runningNames = this.runningNames();
    for (const [name, s] of this.states) out.set(name, this.liveState(s, runningNames));
    return out;
  }

  private liveState(s: NodeState<T>, runningNames: string[]): LiveState {
    switch (s.phase) {
      case 'done':
        return { state: 'done', status: s.result?.status ?? 'failed', ...(s.result?.reason ? { reason: s.result.reason } : {}) };
      case 'running':
        return { state: 'running', attempt: s.attempt, since: s.runningSince ?? this.options.clock.now() };
      case 'waiting_retry':
        return { state: 'waiting_retry', attempt: s.attempt, nextAttemptAt: s.nextAttemptAt ?? this.options.clock.now(), lastError: s.lastError ?? '' };
      case 'ready': {
        const pool = s.node.pool;
        const holders = pool && this.poolFull(pool) ? [...(this.poolUse.get(pool) ?? [])] : runningNames;
        return { state: 'waiting_slot', ...(pool && this.poolFull(pool) ? { pool } : {}), holders };
      }
      default:
        return { state: 'waiting_upstream', on: s.node.dependsOn.filter((d) => this.states.get(d)?.phase !== 'done') };
    }
  }

  private runningNames(): string[] {
    return [...this.states.values()].filter((s) => s.phase === 'running').map((s) => s.node.name);
  }

  private poolFull(pool: string): boolean {
    const limit = this.options.pools?.[pool];
    return limit !== undefined && (this.poolUse.get(pool)?.size ?? 0) >= limit;
  }

  /**
   * Decides what can happen now. Only steps whose upstream changed are re-evaluated, and only ready steps are
   * considered for a slot, so a graph of thousands of steps costs little per step.
   */
  private advance(): void {
    while (this.toEvaluate.size > 0) {
      const batch = [...this.toEvaluate].sort((a, b) => (this.position.get(a) ?? 0) - (this.position.get(b) ?? 0));
      this.toEvaluate.clear();
      for (const name of batch) {
        const s = this.states.get(name) as NodeState<T>;
        if (s.phase !== 'pending') continue;
        const upstream = new Map(s.node.dependsOn.map((d) => [d, this.states.get(d)?.result?.status]));
        const decision = decideTrigger(s.node.trigger, upstream);
        if (decision.kind === 'run') this.makeReady(s);
        else if (decision.kind === 'finish') this.finish(s, { name, status: decision.status, attempts: [], reason: decision.reason });
      }
    }
    if (this.ready.length === 0 || this.running >= this.options.concurrency) return;
    const stillWaiting: string[] = [];
    for (const name of this.ready) {
      const s = this.states.get(name) as NodeState<T>;
      if (s.phase !== 'ready') continue;
      if (this.running >= this.options.concurrency || (s.node.pool && this.poolFull(s.node.pool))) stillWaiting.push(name);
      else this.start(s);
    }
    this.ready = stillWaiting;
  }

  private makeReady(s: NodeState<T>): void {
    s.phase = 'ready';
    const at = this.position.get(s.node.name) ?? 0;
    // Keep the queue in graph order so runs are deterministic.
    let i = this.ready.length;
    while (i > 0 && (this.position.get(this.ready[i - 1] as string) ?? 0) > at) i--;
    this.ready.splice(i, 0, s.node.name);
  }

  private start(s: NodeState<T>): void {
    s.phase = 'running';
    s.attempt += 1;
    this.running += 1;
    if (s.node.pool) {
      const holders = this.poolUse.get(s.node.pool) ?? new Set<string>();
      holders.add(s.node.name);
      this.poolUse.set(s.node.pool, holders);
    }
    const task = this.attempt(s).finally(() => {
      this.inFlight.delete(task);
      this.wake();
    });
    this.inFlight.add(task);
  }

  private release(s: NodeState<T>): void {
    this.running -= 1;
    if (s.node.pool) this.poolUse.get(s.node.pool)?.delete(s.node.name);
    this.wake();
  }

  private async attempt(s: NodeState<T>): Promise<void> {
    const { clock } = this.options;
    const attempt = s.attempt;
    const startedAt = clock.now();
    s.startedAt ??= startedAt;
    s.runningSince = startedAt;
    const controller = new AbortController();
    s.controller = controller;
    const onRunAbort = (): void => controller.abort(cancelled());
    this.options.signal?.addEventListener('abort', onRunAbort, { once: true });
    const timerStop = new AbortController();
    if (s.node.timeoutMs !== undefined) {
      clock.sleep(s.node.timeoutMs, timerStop.signal).then(
        () => controller.abort(timedOut(s.node.name, s.node.timeoutMs as number)),
        () => {},
      );
    }
    await this.options.onEvent?.({ type: 'attempt_started', node: s.node.name, attempt, at: startedAt });
    let outcome: { value: T; skipped?: boolean } | undefined;
    let error: unknown;
    try {
      // The step gets the signal; if it ignores it, the abort still ends the attempt here.
      outcome = await Promise.race([this.options.run(s.node, attempt, controller.signal), abortPromise(controller.signal)]);
    } catch (e) {
      error = e;
    } finally {
      timerStop.abort();
      this.options.signal?.removeEventListener('abort', onRunAbort);
      this.release(s);
    }
    const endedAt = clock.now();
    if (outcome && error === undefined) {
      const status = outcome.skipped ? 'skipped' : 'success';
      s.attempts.push({ attempt, startedAt, endedAt, status });
      this.finish(s, { name: s.node.name, status, attempts: s.attempts, value: outcome.value, startedAt: s.startedAt, endedAt });
      return;
    }
    const wasCancelled = this.options.signal?.aborted === true;
    if (wasCancelled) {
      s.attempts.push({ attempt, startedAt, endedAt, status: 'cancelled', error });
      this.finish(s, { name: s.node.name, status: 'cancelled', attempts: s.attempts, error, reason: 'the run was cancelled', startedAt: s.startedAt, endedAt });
      return;
    }
    const classification = classifyError(error);
    const canRetry = classification.retryable && attempt < s.node.retry.attempts;
    const delay = canRetry ? retryDelay(s.node.retry, attempt, this.options.random) : 0;
    const record: AttemptRecord = {
      attempt,
      startedAt,
      endedAt,
      status: 'failed',
      error,
      retryable: classification.retryable,
      classification: classification.reason,
      ...(canRetry ? { nextAttemptAt: new Date(endedAt.getTime() + delay) } : {}),
    };
    s.attempts.push(record);
    await this.options.onEvent?.({ type: 'attempt_failed', node: s.node.name, record });
    if (!canRetry) {
      const reason = !classification.retryable
        ? `not retried: ${classification.reason}`
        : s.node.retry.attempts > 1
          ? `gave up after ${attempt} attempts`
          : undefined;
      this.finish(s, { name: s.node.name, status: 'failed', attempts: s.attempts, error, ...(reason ? { reason } : {}), startedAt: s.startedAt, endedAt });
      return;
    }
    s.phase = 'waiting_retry';
    s.nextAttemptAt = record.nextAttemptAt;
    s.lastError = error instanceof Error ? error.message : String(error);
    try {
      await clock.sleep(delay, this.options.signal);
      this.makeReady(s);
      this.wake();
    } catch {
      this.finish(s, { name: s.node.name, status: 'cancelled', attempts: s.attempts, error, reason: 'the run was cancelled while waiting to retry', startedAt: s.startedAt, endedAt: clock.now() });
    }
  }

  private finish(s: NodeState<T>, result: NodeResult<T>): void {
    s.phase = 'done';
    s.result = result;
    this.unfinished -= 1;
    for (const d of this.dependents.get(s.node.name) ?? []) this.toEvaluate.add(d);
    this.wake();
    void this.options.onEvent?.({ type: 'node_finished', node: s.node.name, result });
  }

  private cancelRemaining(): void {
    for (const s of this.states.values()) {
      if (s.phase === 'pending' || s.phase === 'ready') {
        this.finish(s, { name: s.node.name, status: 'cancelled', attempts: s.attempts, reason: 'the run was cancelled before it started' });
      }
    }
  }
}

export function executeGraph<T>(nodes: readonly GraphNode[], options: ExecutorOptions<T>): Promise<NodeResult<T>[]> {
  return new GraphExecution(nodes, options).execute();
}

function abortPromise(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

function timedOut(step: string, ms: number): RefineryError {
  return new RefineryError('pipeline', { code: 'step_timeout', step, message: `${step} timed out after ${ms} ms`, hint: 'Raise its timeout, or make it faster.' });
}

function cancelled(): RefineryError {
  return new RefineryError('pipeline', { code: 'run_cancelled', message: 'the run was cancelled' });
}
