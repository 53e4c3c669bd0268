import { describe, expect, it, vi } from 'vitest';
import { TestClock } from '../src/orchestrator/clock.js';
import { migrate } from '../src/state/migrate.js';
import { StepRecordBuffer, type StepRecord, type StepStatus } from '../src/state/run-records.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { ENGINES } from './helpers/engines.js';

const record = (step: string, status: StepStatus): StepRecord => {
  const at = new Date('2024-01-01T00:00:00Z');
  return { runId: 1, step, kind: 'bronze', status, startedAt: at, endedAt: at, rowsIn: 0, rowsWritten: 0, rowsQuarantined: 0, rowsSuperseded: 0, rowsWarned: 0, details: {} };
};

const recorded = async (w: Warehouse): Promise<string[]> => (await w.query('SELECT step FROM refinery.steps ORDER BY step')).rows.map((r) => String(r.step));

describe.each(ENGINES)('step records without a data transaction ($name)', (engine) => {
  const withBuffer = async (work: (w: Warehouse, buffer: StepRecordBuffer, clock: TestClock) => Promise<void>): Promise<void> => {
    const w = await engine.open(':memory:');
    try {
      await migrate(w);
      const clock = new TestClock();
      await work(w, new StepRecordBuffer(w, clock, 1000), clock);
    } finally {
      await w.close();
    }
  };

  it('lets a skipped step wait for company, up to the linger time, and writes any other record at once', async () => {
    await withBuffer(async (w, buffer, clock) => {
      buffer.add(record('bronze.orders', 'skipped'));
      await clock.tick(999);
      expect(await recorded(w)).toEqual([]);
      await clock.tick(1);
      await vi.waitFor(async () => expect(await recorded(w)).toEqual(['bronze.orders']));

      buffer.add(record('bronze.a', 'skipped'));
      buffer.add(record('task.b', 'failed'));
      await vi.waitFor(async () => expect(await recorded(w)).toEqual(['bronze.a', 'bronze.orders', 'task.b']));
      expect(clock.pending).toBe(0);
    });
  });

  it('commits the records still waiting with the run\'s last statement, or neither', async () => {
    await withBuffer(async (w, buffer, clock) => {
      await w.execute(`INSERT INTO refinery.runs (run_id, project, status, started_at) VALUES (1, 'p', 'running', TIMESTAMP '2024-01-01 00:00:00')`);
      buffer.add(record('bronze.orders', 'skipped'));
      await expect(buffer.finish(async (tx) => {
        await tx.execute(`UPDATE refinery.runs SET status = 'success' WHERE run_id = 1`);
        throw new Error('the last statement failed');
      })).rejects.toThrow('the last statement failed');
      expect(await recorded(w)).toEqual([]);
      expect((await w.query('SELECT status FROM refinery.runs')).rows[0]?.status).toBe('running');

      buffer.add(record('bronze.customers', 'skipped'));
      await buffer.finish((tx) => tx.execute(`UPDATE refinery.runs SET status = 'success' WHERE run_id = 1`).then(() => undefined));
      expect(await recorded(w)).toEqual(['bronze.customers']);
      expect((await w.query('SELECT status FROM refinery.runs')).rows[0]?.status).toBe('success');
      expect(clock.pending).toBe(0);
    });
  });
});
