import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Plan } from '../config/plan.js';
import type { Clock } from '../orchestrator/clock.js';
import { runPipeline } from '../orchestrator/run-pipeline.js';
import { migrate } from '../state/migrate.js';
import { DuckDBWarehouse } from '../warehouse/duckdb/duckdb-warehouse.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { compareTable, type TableComparison } from './table-compare.js';
import { waitingSteps, type WaitingStep } from './waiting-tables.js';

/**
 * `refinery check-incremental`: the "incremental == full refresh" invariant, checked on the user's own data. A copy
 * of the warehouse (same bronze) rebuilds every silver, integration and gold table from scratch; each must equal
 * the incrementally maintained one. Sources are not touched: nothing is extracted again.
 *
 * A table that waits for a build (an input changed after it was built, e.g. after `refinery run --select`) cannot
 * be judged: a rebuild from scratch is ahead of it by design. It is listed under `waiting` with the reason and the
 * run that catches it up, and left out of `identical`.
 */
export interface CheckIncrementalReport {
  /** Every table that is up to date with its inputs equals its rebuild from scratch. */
  readonly identical: boolean;
  readonly tables: readonly CheckedTable[];
  /** Steps whose tables wait for a build: not checked. Empty when the warehouse is fully built. */
  readonly waiting: readonly WaitingStep[];
  readonly rebuildMs: number;
}

export interface CheckedTable extends TableComparison {
  /** Why the table is behind its inputs, when it is: then `identical` says nothing about incremental refresh. */
  readonly waiting?: string;
}

export async function checkIncremental(plan: Plan, warehouse: Warehouse, options: { clock?: Clock } = {}): Promise<CheckIncrementalReport> {
  const scratchDir = mkdtempSync(join(tmpdir(), 'refinery-check-'));
  const scratchPath = join(scratchDir, 'warehouse.duckdb');
  try {
    const waiting = await waitingSteps(plan, warehouse);
    const waitingFor = new Map(waiting.flatMap((w) => w.tables.map((t) => [t, w.message] as const)));
    // A checkpoint folds the write-ahead log into the file, so the copy holds everything committed.
    await warehouse.execute('CHECKPOINT');
    copyFileSync(plan.warehouse.path, scratchPath);
    const scratch = await DuckDBWarehouse.open({ path: scratchPath });
    try {
      await migrate(scratch);
      const layers = [...new Set(plan.steps.filter((s) => s.kind !== 'bronze' && s.kind !== 'task').map((s) => `layer:${s.kind}`))];
      const started = performance.now();
      const report = layers.length === 0 ? undefined : await runPipeline(plan, scratch, { fullRefresh: true, select: layers, listener: false, trigger: 'check-incremental', ...(options.clock ? { clock: options.clock } : {}) });
      const rebuildMs = performance.now() - started;
      if (report && report.status !== 'success') {
        throw new Error(`the rebuild from scratch ${report.status}: ${report.steps.find((s) => s.status === 'failed')?.message ?? ''}`);
      }
      const tables: CheckedTable[] = [];
      for (const t of await warehouse.introspector.tables()) {
        if (t.schema !== 'silver' && t.schema !== 'gold' && t.schema !== 'quarantine') continue;
        const name = `${t.schema}.${t.name}`;
        const why = waitingFor.get(name);
        tables.push({ ...(await compareTable(name, warehouse, scratch)), ...(why ? { waiting: why } : {}) });
      }
      return { identical: tables.every((t) => t.waiting !== undefined || t.identical), tables, waiting, rebuildMs };
    } finally {
      await scratch.close();
    }
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
  }
}
