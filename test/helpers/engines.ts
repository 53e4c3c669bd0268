import { DuckDBWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';

/**
 * Every warehouse engine the feature suites run against (kysely-style: `describe.each(ENGINES)`).
 * PostgreSQL joins this list when its warehouse lands.
 */
export interface EngineUnderTest {
  readonly name: string;
  open(path: string): Promise<Warehouse>;
}

export const ENGINES: readonly EngineUnderTest[] = [
  { name: 'duckdb', open: (path) => DuckDBWarehouse.open({ path }) },
];
