import { afterEach, describe, expect, it } from 'vitest';
import { traceRow } from '../src/lineage/row-trace.js';
import { refinery } from './helpers/cli.js';
import { ENGINES } from './helpers/engines.js';
import { TestProject } from './helpers/temp-project.js';

const HEADER = 'customer_id,name,email,phone,country,status,signup_date,updated_at';

/**
 * Customer 1001 has three more versions after the template's day-1 row: a newer one (wins), and in a later file
 * a still newer one with an invalid email (quarantined), so the day-1 row ends up superseded.
 */
function landHistory(project: TestProject): void {
  project.write('landing/customers/customers_day2.csv', `${HEADER}\n1001,John Smith,john.new@example.com,,US,active,2023-01-15,2024-02-01 09:00:00\n`);
  project.write('landing/customers/customers_day3.csv', `${HEADER}\n1001,John Smith,not-an-email,,US,active,2023-01-15,2024-03-01 09:00:00\n`);
}

describe.each(ENGINES)('row lineage (trace) on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  it('lists every bronze row of a silver key with its fate: in silver, superseded, quarantined', async () => {
    project = TestProject.fromTemplate(engine);
    await project.run();
    landHistory(project);
    expect((await project.run()).status).toBe('success');
    const { plan, warehouse } = await project.open();

    const trace = await traceRow(plan, warehouse, 'silver.customers', ['1001']);
    expect(trace.rows).toEqual([expect.objectContaining({ customer_id: 1001, email: 'john.new@example.com', _batch_id: 2, _source_file: 'landing/customers/customers_day2.csv', _source_row: 1 })]);
    const bronze = trace.silver[0]?.bronze ?? [];
    expect(bronze.map((b) => ({ batch: b.batchId, file: b.sourceFile, row: b.sourceRow, fate: b.fate }))).toEqual([
      { batch: 1, file: 'landing/customers/customers_day1.csv', row: 1, fate: { kind: 'superseded', by: { batchId: 2, sourceFile: 'landing/customers/customers_day2.csv', sourceRow: 1 } } },
      { batch: 2, file: 'landing/customers/customers_day2.csv', row: 1, fate: { kind: 'in_silver' } },
      {
        batch: 3,
        file: 'landing/customers/customers_day3.csv',
        row: 1,
        fate: { kind: 'quarantined', reason: 'invalid_email', detail: "email 'not-an-email' must match ^[a-z0-9._%+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}$" },
      },
    ]);
    // Raw values are exactly as received: the day-1 row before trimming and lower-casing.
    expect(bronze[0]?.raw).toMatchObject({ customer_id: '1001', email: 'John.Smith@Example.COM ', name: '  john   SMITH ' });
    expect(bronze[2]?.table).toBe('bronze.customers');
  });

  it('follows a gold key into every silver table it reads, through the join', async () => {
    project = TestProject.fromTemplate(engine);
    landHistory(project);
    await project.run();
    const { plan, warehouse } = await project.open();
    const trace = await traceRow(plan, warehouse, 'gold.customer_360', ['1001']);
    expect(trace.rows).toEqual([expect.objectContaining({ customer_id: 1001, order_count: 2, segment: 'high' })]);
    expect(trace.via).toEqual(['gold.customer_360.customer_id is silver.customers.customer_id (identity)', 'silver.orders.customer_id = silver.customers.customer_id (a join in gold.customer_360)']);
    expect(trace.silver.map((s) => s.table)).toEqual(['silver.customers', 'silver.orders']);
    const customers = trace.silver[0]?.bronze ?? [];
    expect(customers.map((b) => [b.sourceFile, b.fate.kind])).toEqual([
      ['landing/customers/customers_day1.csv', 'superseded'],
      ['landing/customers/customers_day2.csv', 'in_silver'],
      ['landing/customers/customers_day3.csv', 'quarantined'],
    ]);
    const orders = trace.silver[1];
    expect(orders?.rows.map((r) => r.order_id)).toEqual([5001, 5002]);
    expect(orders?.bronze.map((b) => [b.sourceRow, b.raw.amount, b.fate.kind])).toEqual([
      [1, '250.00', 'in_silver'],
      [2, '900.50', 'in_silver'],
    ]);
  });

  it('counts a row in a batch silver has not processed yet as pending', async () => {
    project = TestProject.fromTemplate(engine);
    await project.run();
    landHistory(project);
    await project.run({ select: ['bronze.customers'] });
    const { plan, warehouse } = await project.open();
    const trace = await traceRow(plan, warehouse, 'silver.customers', ['1001']);
    expect(trace.silver[0]?.bronze.map((b) => b.fate.kind)).toEqual(['in_silver', 'pending', 'pending']);
  });

  it('answers refinery trace as a user types it, and explains a wrong key', () => {
    project = TestProject.fromTemplate(engine);
    landHistory(project);
    expect(refinery(['run'], { cwd: project.dir }).code).toBe(0);
    const human = refinery(['trace', 'silver.customers', '--key', '1001'], { cwd: project.dir });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('3 bronze.customers rows, oldest first:');
    expect(human.stdout).toContain('batch 1  landing/customers/customers_day1.csv row 1  superseded by batch 2 (landing/customers/customers_day2.csv row 1)');
    expect(human.stdout).toContain('quarantined: invalid_email');
    const json = JSON.parse(refinery(['trace', 'gold.customer_360', '--key', '1004', '--json'], { cwd: project.dir }).stdout) as { silver: { table: string; bronze: { fate: { kind: string } }[] }[] };
    expect(json.silver.map((s) => [s.table, s.bronze.map((b) => b.fate.kind)])).toEqual([
      ['silver.customers', ['in_silver']],
      ['silver.orders', ['in_silver']],
    ]);
    const missing = refinery(['trace', 'silver.customers', '--key', '424242'], { cwd: project.dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("No row of silver.customers (nor any bronze row that would become one) has customer_id = '424242'.");
    const arity = refinery(['trace', 'silver.customers', '--key', '1', '2', '--json'], { cwd: project.dir });
    expect(JSON.parse(arity.stdout).error).toMatchObject({ code: 'key_arity' });
    const column = refinery(['trace', 'gold.customer_360', '--column', 'custmer_id', '--key', '1'], { cwd: project.dir });
    expect(column.stderr).toContain("Did you mean 'customer_id'?");
  });
});
