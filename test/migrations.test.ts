import { describe, expect, it } from 'vitest';
import { listMigrations, migrate } from '../src/state/migrate.js';
import { ENGINES } from './helpers/engines.js';

describe.each(ENGINES)('state migrations on $name', (engine) => {
  it('applies each numbered migration once; migrating again is harmless', async () => {
    const warehouse = await engine.open(':memory:');
    try {
      const first = await migrate(warehouse);
      expect(first).toEqual(listMigrations().map((m) => m.version));
      expect(await migrate(warehouse)).toEqual([]);
      const { rows } = await warehouse.query(`SELECT count(*) AS n FROM refinery.migrations`);
      expect(rows[0]?.n).toBe(first.length);
      for (const schema of ['bronze', 'silver', 'gold', 'quarantine', 'refinery']) {
        const { rows: s } = await warehouse.query(`SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = $1`, [schema]);
        expect(s[0]?.n, schema).toBe(1);
      }
    } finally {
      await warehouse.close();
    }
  });
});
