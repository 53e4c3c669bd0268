import { describe, expect, it } from 'vitest';
import { compileCandidates } from '../src/layers/silver-sql.js';
import { ENGINES } from './helpers/engines.js';
import { TestProject } from './helpers/temp-project.js';

/**
 * The SQL Refinery generates for the customers template, committed as a snapshot (pg-boss style): a change to
 * the compiler shows up as a reviewable diff in test/sql/.
 */
describe.each(ENGINES)('generated silver SQL on $name', (engine) => {
  it('compiles the customers rules into one reviewable SELECT', async () => {
    const project = TestProject.fromTemplate(engine);
    try {
      const { plan, warehouse } = await project.open();
      const customers = plan.silver.find((t) => t.name === 'customers');
      const columns = ['customer_id', 'name', 'email', 'phone', 'country', 'status', 'signup_date', 'updated_at'].map((name) => ({ name, type: 'VARCHAR' }));
      const sql = compileCandidates(warehouse.dialect, { table: customers!, bronzeColumns: columns, batches: { after: 0, upTo: 9 } });
      await expect(`${sql}\n`).toMatchFileSnapshot(`./sql/${engine.name}/silver-customers.sql`);
    } finally {
      await project.dispose();
    }
  });
});
