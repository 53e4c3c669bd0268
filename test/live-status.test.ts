import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../src/orchestrator/clock.js';
import type { LiveState } from '../src/orchestrator/executor.js';
import { explainLive } from '../src/orchestrator/explain-step.js';
import { LiveStatusWriter, readLiveStatus } from '../src/orchestrator/live-status.js';

describe('live status of a run in progress (what `refinery why` reads from another terminal)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('writes the latest state after a throttled change, and carries the concurrency limit for why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'refinery-live-'));
    dirs.push(dir);
    const writer = new LiveStatusWriter(dir, 3, systemClock, 50);
    const running: LiveState = { state: 'running', attempt: 1, since: new Date() };
    const waiting: LiveState = { state: 'waiting_slot', holders: ['a', 'b', 'c'] };
    writer.update(7, () => new Map([['d', running]]));
    // Within the interval: not written yet, but it must not be lost either.
    writer.update(7, () => new Map([['d', waiting]]));
    expect(readLiveStatus(dir)?.steps.d?.state).toBe('running');
    // The trailing write is due 50 ms later; a busy CI machine may be late, so wait for it (up to 5 s) rather than guess.
    for (let waited = 0; waited < 5000 && readLiveStatus(dir)?.steps.d?.state !== 'waiting_slot'; waited += 20) await new Promise((r) => setTimeout(r, 20));
    const status = readLiveStatus(dir);
    expect(status).toMatchObject({ runId: 7, concurrency: 3, steps: { d: { state: 'waiting_slot' } } });
    writer.close();
    const state = status?.steps.d as LiveState;
    expect(explainLive('d', state, new Date(), status?.concurrency ?? 0).sentence).toBe('d is ready but waiting for a free slot: 3 steps are running (a, b, c) and concurrency is 3.');
  });
});
