import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LiveState } from './executor.js';

/**
 * Where each step of a run in progress is, written to `.refinery/live.json` as it changes. DuckDB lets one process
 * hold the warehouse, so `refinery why` in another terminal reads this file while a run holds the lock.
 */
export interface LiveStatus {
  readonly runId: number;
  readonly pid: number;
  readonly updatedAt: string;
  readonly steps: Record<string, LiveState>;
}

export function liveStatusPath(projectDir: string): string {
  return join(projectDir, '.refinery', 'live.json');
}

export function writeLiveStatus(projectDir: string, runId: number, live: ReadonlyMap<string, LiveState>, at: Date): void {
  const path = liveStatusPath(projectDir);
  mkdirSync(dirname(path), { recursive: true });
  const status: LiveStatus = { runId, pid: process.pid, updatedAt: at.toISOString(), steps: Object.fromEntries(live) };
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
