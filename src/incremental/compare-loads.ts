import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { generateLoadScenario, type LoadScenario } from '../generate/load-scenario.js';
import type { Clock } from '../orchestrator/clock.js';
import { systemClock } from '../orchestrator/clock.js';
import { runPipeline, type RunReport } from '../orchestrator/run-pipeline.js';
import { openProject, type OpenProject } from '../project.js';
import { scaffoldProject } from '../templates.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { compareTable as compareTables } from './table-compare.js';

/**
 * `refinery compare-loads`: the course's "reload everything or just the changes?" with real numbers. On generated
 * data, a fresh warehouse loads day 2's full extract (full reload) while another, already holding day 1, loads only
 * day 2's changes (incremental). Both must end with identical silver and gold — any difference is reported as a
 * failure — and the side-by-side shows what each cost.
 */
export interface LoadMeasurement {
  readonly strategy: 'full reload' | 'incremental';
  readonly wallMs: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly bytesRead: number;
  readonly steps: readonly { readonly step: string; readonly status: string; readonly ms: number; readonly rowsIn: number; readonly rowsWritten: number; readonly message?: string }[];
}

export interface TableComparison {
  readonly table: string;
  readonly fullRows: number;
  readonly incrementalRows: number;
  readonly identical: boolean;
}

async function compareTable(table: string, full: Warehouse, incremental: Warehouse): Promise<TableComparison> {
  const c = await compareTables(table, full, incremental);
  return { table, fullRows: c.leftRows, incrementalRows: c.rightRows, identical: c.identical };
}

export interface CompareLoadsReport {
  readonly rows: number;
  readonly changes: number;
  readonly full: LoadMeasurement;
  readonly incremental: LoadMeasurement;
  /** How many times faster the incremental load was. */
  readonly speedup: number;
  readonly identical: boolean;
  readonly tables: readonly TableComparison[];
  readonly workDir: string;
}

export interface CompareLoadsOptions {
  readonly rows: number;
  readonly changes: number;
  readonly seed?: number;
  readonly workDir: string;
  readonly keep?: boolean;
  readonly clock?: Clock;
  /** Called as each stage starts: its description, and its place among the stages (for a `[2/5]` prefix). */
  readonly progress?: (text: string, at: { readonly stage: number; readonly of: number }) => void;
}

/** The stages of a comparison, in order: progress counts against this list, so the total cannot drift. */
const STAGES = ['generate', 'full reload', 'incremental setup', 'incremental', 'compare'] as const;

const COMPARED = ['silver.customers', 'silver.orders', 'gold.customer_360'];

export async function compareLoads(options: CompareLoadsOptions): Promise<CompareLoadsReport> {
  const progress = (stage: (typeof STAGES)[number], text: string): void => options.progress?.(text, { stage: STAGES.indexOf(stage) + 1, of: STAGES.length });
  const clock = options.clock ?? systemClock;
  mkdirSync(options.workDir, { recursive: true });
  progress('generate', `generating ${options.rows.toLocaleString('en-US')} customers and ${options.changes.toLocaleString('en-US')} day-2 changes`);
  const scenario = await generateLoadScenario({ rows: options.rows, changes: options.changes, out: join(options.workDir, 'data'), ...(options.seed === undefined ? {} : { seed: options.seed }) });
  const full = project(options.workDir, 'full-reload', [scenario.day2Full.customers], [scenario.day2Full.orders]);
  const incremental = project(options.workDir, 'incremental', [scenario.day1.customers], [scenario.day1.orders]);
  const fullProject = await openProject(full);
  const incrementalProject = await openProject(incremental);
  try {
    progress('full reload', 'full reload: loading the whole day-2 extract into a fresh warehouse');
    const fullMeasure = await measure('full reload', fullProject, clock);
    progress('incremental setup', 'incremental: loading day 1 (setup, not timed)');
    await runPipeline(incrementalProject.plan, incrementalProject.warehouse, { clock });
    copyFileSync(scenario.day2Changes, join(incremental, 'landing', 'customers', basename(scenario.day2Changes)));
    progress('incremental', 'incremental: loading only the day-2 changes');
    const incrementalMeasure = await measure('incremental', incrementalProject, clock);
    progress('compare', 'comparing silver and gold');
    const tables: TableComparison[] = [];
    for (const table of COMPARED) tables.push(await compareTable(table, fullProject.warehouse, incrementalProject.warehouse));
    return {
      rows: scenario.rows,
      changes: scenario.changes,
      full: fullMeasure,
      incremental: incrementalMeasure,
      speedup: fullMeasure.wallMs / Math.max(incrementalMeasure.wallMs, 0.001),
      identical: tables.every((t) => t.identical),
      tables,
      workDir: options.workDir,
    };
  } finally {
    await fullProject.close();
    await incrementalProject.close();
    if (!options.keep) rmSync(options.workDir, { recursive: true, force: true });
  }
}

function project(workDir: string, name: string, customers: readonly string[], orders: readonly string[]): string {
  const dir = join(workDir, name);
  scaffoldProject(dir, 'customers', { force: true });
  for (const zone of ['customers', 'orders']) {
    rmSync(join(dir, 'landing', zone), { recursive: true, force: true });
    mkdirSync(join(dir, 'landing', zone), { recursive: true });
  }
  for (const file of customers) copyFileSync(file, join(dir, 'landing', 'customers', basename(file)));
  for (const file of orders) copyFileSync(file, join(dir, 'landing', 'orders', basename(file)));
  return dir;
}

async function measure(strategy: LoadMeasurement['strategy'], open: OpenProject, clock: Clock): Promise<LoadMeasurement> {
  const started = performance.now();
  const report: RunReport = await runPipeline(open.plan, open.warehouse, { clock });
  const wallMs = performance.now() - started;
  if (report.status !== 'success') throw new Error(`the ${strategy} run ${report.status}: ${report.steps.find((s) => s.status === 'failed')?.message ?? ''}`);
  const { rows } = await open.warehouse.query(`SELECT coalesce(sum(size_bytes), 0) AS bytes FROM refinery.batches WHERE run_id = $1`, [report.runId]);
  return {
    strategy,
    wallMs,
    rowsRead: report.steps.filter((s) => s.kind === 'bronze').reduce((a, s) => a + s.rowsIn, 0),
    rowsWritten: report.steps.filter((s) => s.kind !== 'bronze').reduce((a, s) => a + s.rowsWritten, 0),
    bytesRead: Number(rows[0]?.bytes ?? 0),
    steps: report.steps.map((s) => ({ step: s.step, status: s.status, ms: s.durationMs, rowsIn: s.rowsIn, rowsWritten: s.rowsWritten, ...(s.message ? { message: s.message } : {}) })),
  };
}

export type { LoadScenario };
