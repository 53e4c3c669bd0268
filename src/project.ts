import { resolve } from 'node:path';
import { planProject, readProject, type LoadedProject } from './config/load-project.js';
import type { Plan } from './config/plan.js';
import { migrate } from './state/migrate.js';
import { RefineryError } from './errors.js';
import { readServiceLock } from './orchestrator/service-lock.js';
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
  let warehouse: DuckDBWarehouse;
  try {
    warehouse = await DuckDBWarehouse.open({ path, ...(threads ? { threads } : {}) });
  } catch (error) {
    const service = readServiceLock(project.dir);
    if (error instanceof RefineryError && error.code === 'warehouse_locked' && service) {
      throw new RefineryError('pipeline', {
        code: 'warehouse_held_by_service',
        file: path,
        message: `refinery serve (PID ${service.pid}) holds this project's warehouse.`,
        hint: `Ask the service instead: curl -X POST ${service.url}/api/runs to run, ${service.url}/api/runs for history, ${service.url}/api/why/<step> for why — or stop it (kill ${service.pid}).`,
      });
    }
    throw error;
  }
  try {
    await migrate(warehouse);
    const plan = await planProject(project, warehouse.parser);
    return { project, plan, warehouse, close: () => warehouse.close() };
  } catch (error) {
    await warehouse.close();
    throw error;
  }
}
