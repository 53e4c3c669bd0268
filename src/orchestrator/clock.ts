/**
 * Time is a dependency. Everything that stamps or decides by time — run records, retries, backoff, timeouts,
 * schedules — takes a Clock, so tests run on virtual time (`TestClock.tick`) instead of sleeping.
 */
export interface Clock {
  now(): Date;
  /** Resolves after `ms`; rejects with the signal's reason if it is aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Calls `run` once `ms` have passed on `clock`, unless the returned cancel is called first. For work that may wait
 * a while but must not wait forever (a record lingering for company, an event waiting for the run's end).
 */
export function callAfter(clock: Clock, ms: number, run: () => void): () => void {
  const cancelled = new AbortController();
  clock.sleep(ms, cancelled.signal).then(
    // The time may have come just before the cancel: a cancelled call never runs.
    () => (cancelled.signal.aborted ? undefined : run()),
    () => undefined,
  );
  return () => cancelled.abort();
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

interface PendingTimer {
  readonly at: number;
  readonly seq: number;
  readonly resolve: () => void;
}

/** Virtual time for tests: `sleep` waits until `tick` moves the clock past its deadline. */
export class TestClock implements Clock {
  private current: number;
  private timers: PendingTimer[] = [];
  private seq = 0;

  constructor(start: Date | string = '2024-01-01T00:00:00Z') {
    this.current = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer: PendingTimer = { at: this.current + Math.max(0, ms), seq: this.seq++, resolve };
      this.timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((t) => t !== timer);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Moves time forward, firing due timers in order and letting their continuations run. */
  async tick(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = Math.max(this.current, due.at);
      due.resolve();
    }
    this.current = target;
    await settle();
  }

  /** Timers waiting to fire, for assertions. */
  get pending(): number {
    return this.timers.length;
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}
