import { resolve } from 'node:path';
import { planProject, readProject, type LoadedProject } from './config/load-project.js';
import type { Plan } from './config/plan.js';
import { migrate } from './state/migrate.js';
import { DuckDBWarehouse } from './warehouse/duckdb/duckdb-warehouse.js';
import type { Warehouse } from './warehouse/warehouse.js';

export interface OpenProject {
  readonly project: LoadedProject;
  readonly plan: Plan;
  readonly warehouse: Warehouse;
  close(): Promise<void>;
}

/**
 * Loads and validates a project, opens its warehouse (creating and migrating it on first use) and plans it.
 *
 * @example
 * ```ts
 * import { openProject, runPipeline } from 'refinery';
 * const { plan, warehouse, close } = await openProject('./demo');
 * try {
 *   const report = await runPipeline(plan, warehouse);
 *   console.log(report.status);
 * } finally {
 *   await close();
 * }
 * ```
 */
export async function openProject(projectDir: string): Promise<OpenProject> {
  const project = await readProject(projectDir);
  const configured = project.config.warehouse?.path ?? '.refinery/warehouse.duckdb';
  const path = configured === ':memory:' ? configured : resolve(project.dir, configured);
  const threads = project.config.warehouse?.threads;
  const warehouse = await DuckDBWarehouse.open({ path, ...(threads ? { threads } : {}) });
  try {
    await migrate(warehouse);
    const plan = await planProject(project, warehouse.parser);
    return { project, plan, warehouse, close: () => warehouse.close() };
  } catch (error) {
    await warehouse.close();
    throw error;
  }
}
