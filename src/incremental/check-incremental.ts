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

/**
 * `refinery check-incremental`: the "incremental == full refresh" invariant, checked on the user's own data. A copy
 * of the warehouse (same bronze) rebuilds every silver, integration and gold table from scratch; each must equal
 * the incrementally maintained one. Sources are not touched: nothing is extracted again.
 */
export interface CheckIncrementalReport {
  readonly identical: boolean;
  readonly tables: readonly TableComparison[];
  readonly rebuildMs: number;
}

export async function checkIncremental(plan: Plan, warehouse: Warehouse, options: { clock?: Clock } = {}): Promise<CheckIncrementalReport> {
  const scratchDir = mkdtempSync(join(tmpdir(), 'refinery-check-'));
  const scratchPath = join(scratchDir, 'warehouse.duckdb');
  try {
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
      const tables: TableComparison[] = [];
      for (const t of await warehouse.introspector.tables()) {
        if (t.schema === 'silver' || t.schema === 'gold' || t.schema === 'quarantine') tables.push(await compareTable(`${t.schema}.${t.name}`, warehouse, scratch));
      }
      return { identical: tables.every((t) => t.identical), tables, rebuildMs };
    } finally {
      await scratch.close();
    }
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
  }
}
