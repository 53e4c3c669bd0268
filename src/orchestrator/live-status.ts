import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Clock } from './clock.js';
import type { LiveState } from './executor.js';

/**
 * Where each step of a run in progress is, written to `.refinery/live.json` as it changes. DuckDB lets one process
 * hold the warehouse, so `refinery why` in another terminal reads this file while a run holds the lock.
 */
export interface LiveStatus {
  readonly runId: number;
  readonly pid: number;
  readonly updatedAt: string;
  /** The run's global step limit, so `why` can say it when a step waits for a slot. */
  readonly concurrency: number;
  readonly steps: Record<string, LiveState>;
}

export function liveStatusPath(projectDir: string): string {
  return join(projectDir, '.refinery', 'live.json');
}

export function writeLiveStatus(projectDir: string, runId: number, concurrency: number, live: ReadonlyMap<string, LiveState>, at: Date): void {
  const path = liveStatusPath(projectDir);
  mkdirSync(dirname(path), { recursive: true });
  const status: LiveStatus = { runId, pid: process.pid, updatedAt: at.toISOString(), concurrency, steps: Object.fromEntries(live) };
  // Write-then-rename so a reader never sees half a file.
  writeFileSync(`${path}.tmp`, JSON.stringify(status));
  renameSync(`${path}.tmp`, path);
}

export function readLiveStatus(projectDir: string): LiveStatus | undefined {
  try {
    const status = JSON.parse(readFileSync(liveStatusPath(projectDir), 'utf8')) as LiveStatus;
    return isAlive(status.pid) ? status : undefined;
  } catch {
    return undefined;
  }
}

export function clearLiveStatus(projectDir: string): void {
  rmSync(liveStatusPath(projectDir), { force: true });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes the live status at most once per `intervalMs`, and always writes the latest state once the interval is
 * over: a step that changes state just after a write is not left showing its old state until the next change.
 */
export class LiveStatusWriter {
  private last = -Infinity;
  private pending: { runId: number; live: () => ReadonlyMap<string, LiveState> } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly projectDir: string,
    private readonly concurrency: number,
    private readonly clock: Clock,
    private readonly intervalMs = 100,
  ) {}

  update(runId: number, live: () => ReadonlyMap<string, LiveState>): void {
    this.pending = { runId, live };
    // Wall-clock throttling of a file write, not a scheduling decision: the monotonic timer is right here.
    const wait = this.last + this.intervalMs - performance.now();
    if (wait <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), wait).unref();
  }

  /** Stops writing; the caller removes the file. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return;
    this.last = performance.now();
    writeLiveStatus(this.projectDir, pending.runId, this.concurrency, pending.live(), this.clock.now());
  }
}
