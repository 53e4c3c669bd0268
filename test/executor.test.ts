import { describe, expect, it } from 'vitest';
import { TestClock } from '../src/orchestrator/clock.js';
import { FatalError } from '../src/orchestrator/error-classification.js';
import { GraphExecution, type GraphNode } from '../src/orchestrator/executor.js';
import { NO_RETRY, retryDelay, type RetryPolicy } from '../src/orchestrator/retry-policy.js';
import type { TriggerRule } from '../src/orchestrator/trigger-rules.js';

const node = (name: string, dependsOn: string[] = [], extra: Partial<GraphNode> = {}): GraphNode => ({ name, dependsOn, trigger: 'all_success', retry: NO_RETRY, ...extra });
const retry = (attempts: number, delayMs = 1000, backoff: RetryPolicy['backoff'] = 'fixed'): RetryPolicy => ({ attempts, delayMs, backoff, maxDelayMs: 0, jitter: 0 });
const connectionRefused = (): Error => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });

/** Runs a graph on virtual time: `behaviour` decides what each attempt does; time advances only by `clock.tick`. */
async function runGraph(nodes: GraphNode[], behaviour: (name: string, attempt: number, signal: AbortSignal, clock: TestClock) => Promise<void>, options: { concurrency?: number; pools?: Record<string, number>; tickMs?: number; signal?: AbortSignal } = {}) {
  const clock = new TestClock();
  const log: string[] = [];
  const execution = new GraphExecution<string>(nodes, {
    clock,
    concurrency: options.concurrency ?? 8,
    pools: options.pools ?? {},
    ...(options.signal ? { signal: options.signal } : {}),
    random: () => 0.5,
    run: async (n, attempt, signal) => {
      log.push(`start ${n.name}#${attempt} @${clock.now().getTime() - new Date('2024-01-01T00:00:00Z').getTime()}`);
      await behaviour(n.name, attempt, signal, clock);
      log.push(`end ${n.name}#${attempt}`);
      return { value: n.name };
    },
  });
  const done = execution.execute();
  let finished = false;
  void done.then(() => (finished = true));
  for (let i = 0; i < 200 && !finished; i++) await clock.tick(options.tickMs ?? 500);
  const results = await done;
  return { results: Object.fromEntries(results.map((r) => [r.name, r])), log, clock, execution };
}

describe('graph executor', () => {
  it('runs a diamond in dependency order, the middle in parallel', async () => {
    const { results, log } = await runGraph([node('a'), node('b', ['a']), node('c', ['a']), node('d', ['b', 'c'])], (_n, _a, signal, clock) => clock.sleep(1000, signal));
    expect(Object.values(results).map((r) => r.status)).toEqual(['success', 'success', 'success', 'success']);
    expect(log.filter((l) => l.startsWith('start'))).toEqual(['start a#1 @0', 'start b#1 @1000', 'start c#1 @1000', 'start d#1 @2000']);
  });

  it('marks the dependents of a failed step upstream_failed and still finishes independent branches', async () => {
    const { results } = await runGraph([node('customers'), node('orders', ['customers']), node('gold', ['orders']), node('rates')], async (name) => {
      if (name === 'customers') throw new FatalError('the customer API is gone');
    });
    expect(results.customers?.status).toBe('failed');
    expect(results.orders).toMatchObject({ status: 'upstream_failed', reason: 'customers failed' });
    expect(results.gold).toMatchObject({ status: 'upstream_failed', reason: 'orders failed' });
    expect(results.rates?.status).toBe('success');
  });

  it('retries a retryable failure with backoff and succeeds; releases its slot while it waits', async () => {
    const { results, log } = await runGraph(
      [node('api', [], { retry: retry(3, 1000, 'exponential') }), node('other')],
      async (name, attempt) => {
        if (name === 'api' && attempt < 3) throw connectionRefused();
      },
      { concurrency: 1, tickMs: 250 },
    );
    expect(results.api?.status).toBe('success');
    expect(results.api?.attempts.map((a) => [a.status, a.retryable ?? null])).toEqual([
      ['failed', true],
      ['failed', true],
      ['success', null],
    ]);
    // 1 s after the first failure, 2 s after the second (exponential); `other` ran while api waited.
    expect(log.filter((l) => l.startsWith('start'))).toEqual(['start api#1 @0', 'start other#1 @0', 'start api#2 @1000', 'start api#3 @3000']);
  });

  it('does not retry a fatal error, and says why', async () => {
    const { results } = await runGraph([node('sql', [], { retry: retry(5) })], async () => {
      throw new FatalError('syntax error at or near SELEC');
    });
    expect(results.sql).toMatchObject({ status: 'failed', reason: 'not retried: the task marked it fatal' });
    expect(results.sql?.attempts).toHaveLength(1);
  });

  it('aborts a step that runs past its timeout through its signal, then fails it (retrying if allowed)', async () => {
    const seen: string[] = [];
    const { results } = await runGraph([node('slow', [], { timeoutMs: 2000, retry: retry(2, 0) })], async (_n, attempt, signal, clock) => {
      signal.addEventListener('abort', () => seen.push(`aborted #${attempt}: ${(signal.reason as Error).message}`));
      await clock.sleep(10_000, signal);
    });
    expect(results.slow?.status).toBe('failed');
    expect(results.slow?.attempts).toHaveLength(2);
    expect(seen).toEqual(['aborted #1: slow timed out after 2000 ms', 'aborted #2: slow timed out after 2000 ms']);
  });

  it('respects the global limit and per-pool slots', async () => {
    let now = 0;
    let peak = 0;
    let crm = 0;
    let crmPeak = 0;
    const nodes = [...'abcdef'].map((n, i) => node(n, [], i < 4 ? { pool: 'crm' } : {}));
    await runGraph(
      nodes,
      async (name, _a, signal, clock) => {
        now++;
        peak = Math.max(peak, now);
        if ('abcd'.includes(name)) crmPeak = Math.max(crmPeak, ++crm);
        await clock.sleep(1000, signal);
        if ('abcd'.includes(name)) crm--;
        now--;
      },
      { concurrency: 3, pools: { crm: 2 } },
    );
    expect(peak).toBe(3);
    expect(crmPeak).toBe(2);
  });

  it.each<[TriggerRule, 'ok' | 'fail', string]>([
    ['all_success', 'fail', 'upstream_failed'],
    ['all_success', 'ok', 'success'],
    ['all_done', 'fail', 'success'],
    ['none_failed', 'fail', 'upstream_failed'],
    ['none_failed', 'ok', 'success'],
    ['one_failed', 'fail', 'success'],
    ['one_failed', 'ok', 'skipped'],
  ])('trigger %s after an upstream that ends %s → %s', async (trigger, upstream, expected) => {
    const { results } = await runGraph([node('up'), node('other'), node('down', ['up', 'other'], { trigger })], async (name) => {
      if (name === 'up' && upstream === 'fail') throw new FatalError('boom');
    });
    expect(results.down?.status).toBe(expected);
  });

  it('cancels: running steps get their abort signal, steps not started end cancelled', async () => {
    const controller = new AbortController();
    const aborted: string[] = [];
    const { results } = await runGraph(
      [node('a'), node('b', ['a'])],
      async (name, _attempt, signal, clock) => {
        signal.addEventListener('abort', () => aborted.push(name));
        // Cancel while `a` is asleep, in this very turn: a real-time timer would race the virtual clock.
        const sleeping = clock.sleep(5000, signal);
        controller.abort();
        await sleeping;
      },
      { signal: controller.signal },
    );
    expect(aborted).toEqual(['a']);
    expect(results.a?.status).toBe('cancelled');
    expect(results.b?.status).toBe('cancelled');
  });

  it('computes backoff delays: fixed, linear, exponential, capped, with jitter', () => {
    const p = (backoff: RetryPolicy['backoff'], maxDelayMs = 0, jitter = 0): RetryPolicy => ({ attempts: 5, delayMs: 1000, backoff, maxDelayMs, jitter });
    expect([1, 2, 3].map((a) => retryDelay(p('fixed'), a))).toEqual([1000, 1000, 1000]);
    expect([1, 2, 3].map((a) => retryDelay(p('linear'), a))).toEqual([1000, 2000, 3000]);
    expect([1, 2, 3, 4].map((a) => retryDelay(p('exponential', 5000), a))).toEqual([1000, 2000, 4000, 5000]);
    expect(retryDelay(p('fixed', 0, 0.5), 1, () => 0)).toBe(500);
    expect(retryDelay(p('fixed', 0, 0.5), 1, () => 1)).toBe(1500);
  });
});
