import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import { TestProject } from './helpers/temp-project.js';

const HEADER = 'customer_id,name,email,phone,country,status,signup_date,updated_at';

describe.each(ENGINES)('customers template on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  it('refines the sample data exactly as rules R1–R7 say', async () => {
    project = TestProject.fromTemplate(engine);
    const report = await project.run();
    expect(report.status).toBe('success');

    expect(await project.rows(`SELECT customer_id, name, email, phone, country, status, CAST(signup_date AS VARCHAR) AS signup_date, CAST(updated_at AS VARCHAR) AS updated_at, _source_row FROM silver.customers ORDER BY customer_id`)).toEqual([
      { customer_id: 1001, name: 'John Smith', email: 'john.smith@example.com', phone: '+15550100001', country: 'US', status: 'active', signup_date: '2023-01-15', updated_at: '2024-01-10 09:00:00', _source_row: 1 },
      { customer_id: 1002, name: "Mary-Jane O'Neil", email: 'mary.oneil@example.com', phone: '5550100002', country: 'IE', status: 'inactive', signup_date: '2023-02-15', updated_at: '2024-01-14 16:45:00', _source_row: 8 },
      { customer_id: 1004, name: 'Li Wei', email: 'li.wei@example.cn', phone: '+861055550004', country: 'CN', status: 'suspended', signup_date: null, updated_at: '2024-01-09 12:00:00', _source_row: 4 },
      { customer_id: 1007, name: 'Carlos Ruiz', email: 'carlos.ruiz@example.es', phone: null, country: 'ES', status: 'pending', signup_date: '2023-07-04', updated_at: '2024-01-13 11:00:00', _source_row: 7 },
    ]);
    expect(await project.rows(`SELECT _source_row, customer_id, _reason FROM quarantine.customers ORDER BY _source_row`)).toEqual([
      { _source_row: 3, customer_id: '1003', _reason: 'invalid_email' },
      { _source_row: 5, customer_id: '', _reason: 'invalid_customer_id' },
      { _source_row: 6, customer_id: '1006', _reason: 'invalid_email' },
    ]);
    expect(await project.rows(`SELECT order_id, customer_id, CAST(order_date AS VARCHAR) AS order_date, CAST(amount AS VARCHAR) AS amount FROM silver.orders ORDER BY order_id`)).toEqual([
      { order_id: 5001, customer_id: 1001, order_date: '2024-01-12', amount: '250.00' },
      { order_id: 5002, customer_id: 1001, order_date: '2024-01-15', amount: '900.50' },
      { order_id: 5003, customer_id: 1002, order_date: '2024-01-13', amount: '45.99' },
      { order_id: 5004, customer_id: 1004, order_date: '2024-01-14', amount: '120.00' },
    ]);
    expect(await project.rows(`SELECT order_id, _reason FROM quarantine.orders ORDER BY order_id`)).toEqual([
      { order_id: '5005', _reason: 'unknown_customer' },
      { order_id: '5006', _reason: 'invalid_order' },
      { order_id: '5007', _reason: 'unknown_customer' },
    ]);
    expect(
      await project.rows(`SELECT customer_id, order_count, CAST(total_spend AS VARCHAR) AS total_spend, CAST(last_order_date AS VARCHAR) AS last_order_date, segment FROM gold.customer_360 ORDER BY customer_id`),
    ).toEqual([
      { customer_id: 1001, order_count: 1 + 1, total_spend: '1150.50', last_order_date: '2024-01-15', segment: 'high' },
      { customer_id: 1002, order_count: 1, total_spend: '45.99', last_order_date: '2024-01-13', segment: 'low' },
      { customer_id: 1004, order_count: 1, total_spend: '120.00', last_order_date: '2024-01-14', segment: 'medium' },
      { customer_id: 1007, order_count: 0, total_spend: '0.00', last_order_date: null, segment: 'none' },
    ]);

    const customers = report.steps.find((s) => s.step === 'silver.customers');
    expect(customers).toMatchObject({ rowsIn: 8, rowsWritten: 4, rowsQuarantined: 3, rowsSuperseded: 1, quarantinedByReason: { invalid_email: 2, invalid_customer_id: 1 }, warningsByCheck: { unparsed_signup_date: 1 } });
    const audit = await project.audit();
    expect(audit.balanced).toBe(true);
    expect(audit.tables.find((t) => t.table === 'silver.customers')).toMatchObject({ bronze: 8, silver: 4, quarantined: 3, superseded: 1, lost: 0 });
  });

  it('applies each rule to a crafted row, in order, with the first failing check as the reason', async () => {
    project = TestProject.fromTemplate(engine);
    project.remove('landing/customers/customers_day1.csv');
    project.remove('landing/orders/orders_day1.csv');
    const rows = [
      // R1: trimmed whole positive number
      ['  42 ', 'a b', 'a@b.co', '', '', 'active', '', ''], // ok → 42
      ['0', 'x', 'x@y.co', '', '', 'active', '', ''], // not positive
      ['-3', 'x', 'x@y.co', '', '', 'active', '', ''], // negative
      ['4.5', 'x', 'x@y.co', '', '', 'active', '', ''], // not whole
      ['abc', 'x', 'x@y.co', '', '', 'active', '', ''], // not a number
      ['', 'x', 'x@y.co', '', '', 'active', '', ''], // empty
      // R2: trimmed, lower-cased, must match; first failing check wins (id is fine, email bad, status bad → invalid_email)
      ['50', 'x', ' Bad@Email ', '', '', 'nonsense', '', ''],
      ['51', 'x', '  MIXED.Case+tag@Sub.Example.ORG  ', '', '', 'active', '', ''], // ok
      ['52', 'x', '', '', '', 'active', '', ''], // empty email
      // R3: trimmed, lower-cased, one of four
      ['60', 'x', 'x@y.co', '', '', ' SUSPENDED ', '', ''], // ok
      ['61', 'x', 'x@y.co', '', '', 'closed', '', ''],
      ['62', 'x', 'x@y.co', '', '', '', '', ''],
      // R4 names, R5 phones, R6 dates
      ['70', "  mary-jane   o'neil  ", 'x@y.co', ' +44 (0)20-7946.0000 ', '', 'active', '31/12/2023', '2024-01-01T10:11:12'],
      ['71', 'ÉLODIE  de la tour', 'x@y.co', '(555) 123', '', 'pending', '2023-12-31', '2024-01-01 10:11:12'],
      ['72', 'x', 'x@y.co', '', '', 'inactive', '12/31/2023', 'not a time'],
    ];
    project.write('landing/customers/a.csv', [HEADER, ...rows.map((r) => r.map((v) => (v.includes(',') ? `"${v}"` : v)).join(','))].join('\n') + '\n');
    const report = await project.run();
    expect(report.status).toBe('success');
    const quarantined = await project.rows(`SELECT _source_row, _reason FROM quarantine.customers ORDER BY _source_row`);
    expect(quarantined).toEqual([
      { _source_row: 2, _reason: 'invalid_customer_id' },
      { _source_row: 3, _reason: 'invalid_customer_id' },
      { _source_row: 4, _reason: 'invalid_customer_id' },
      { _source_row: 5, _reason: 'invalid_customer_id' },
      { _source_row: 6, _reason: 'invalid_customer_id' },
      { _source_row: 7, _reason: 'invalid_email' },
      { _source_row: 9, _reason: 'invalid_email' },
      { _source_row: 11, _reason: 'invalid_status' },
      { _source_row: 12, _reason: 'invalid_status' },
    ]);
    const silver = await project.rows(`SELECT customer_id, name, email, phone, status, CAST(signup_date AS VARCHAR) AS signup_date, CAST(updated_at AS VARCHAR) AS updated_at FROM silver.customers ORDER BY customer_id`);
    expect(silver).toEqual([
      { customer_id: 42, name: 'A B', email: 'a@b.co', phone: null, status: 'active', signup_date: null, updated_at: null },
      { customer_id: 51, name: 'X', email: 'mixed.case+tag@sub.example.org', phone: null, status: 'active', signup_date: null, updated_at: null },
      { customer_id: 60, name: 'X', email: 'x@y.co', phone: null, status: 'suspended', signup_date: null, updated_at: null },
      { customer_id: 70, name: "Mary-Jane O'Neil", email: 'x@y.co', phone: '+4402079460000', status: 'active', signup_date: '2023-12-31', updated_at: '2024-01-01 10:11:12' },
      { customer_id: 71, name: 'Élodie De La Tour', email: 'x@y.co', phone: '555123', status: 'pending', signup_date: '2023-12-31', updated_at: '2024-01-01 10:11:12' },
      { customer_id: 72, name: 'X', email: 'x@y.co', phone: null, status: 'inactive', signup_date: null, updated_at: null },
    ]);
    // An unparseable signup date is kept as NULL and counted; a blank one is simply absent.
    expect(report.steps.find((s) => s.step === 'silver.customers')?.warningsByCheck).toEqual({ unparsed_signup_date: 1 });
    const detail = await project.rows(`SELECT _detail FROM quarantine.customers WHERE _source_row = 7`);
    expect(detail[0]?._detail).toBe("email 'bad@email' must match ^[a-z0-9._%+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}$");
  });

  it('keeps one row per customer: the greatest updated_at wins, ties go to the row that arrived last', async () => {
    project = TestProject.fromTemplate(engine);
    project.remove('landing/customers/customers_day1.csv');
    const row = (id: number, status: string, updated: string): string => `${id},N,n@x.co,,,${status},,${updated}`;
    project.write('landing/customers/day1.csv', [HEADER, row(1, 'active', '2024-01-10 00:00:00'), row(1, 'pending', '2024-01-12 00:00:00'), row(1, 'inactive', '2024-01-11 00:00:00'), row(2, 'active', '2024-01-10 00:00:00'), row(2, 'pending', '2024-01-10 00:00:00')].join('\n'));
    await project.run();
    expect(await project.rows(`SELECT customer_id, status, _source_row FROM silver.customers ORDER BY 1`)).toEqual([
      { customer_id: 1, status: 'pending', _source_row: 2 },
      { customer_id: 2, status: 'pending', _source_row: 5 }, // tie: the later row wins
    ]);

    // A late file with an older version does not overwrite; a newer one does; a tie goes to the later batch.
    project.write('landing/customers/day2.csv', [HEADER, row(1, 'suspended', '2024-01-01 00:00:00'), row(2, 'suspended', '2024-01-10 00:00:00'), row(3, 'active', '2024-01-05 00:00:00')].join('\n'));
    const second = await project.run();
    const bronzeStep = second.steps.find((s) => s.step === 'bronze.customers');
    expect(bronzeStep?.files.filter((f) => f.outcome === 'ingested').map((f) => f.path)).toEqual(['landing/customers/day2.csv']);
    expect(await project.rows(`SELECT customer_id, status, _source_file FROM silver.customers ORDER BY 1`)).toEqual([
      { customer_id: 1, status: 'pending', _source_file: 'landing/customers/day1.csv' },
      { customer_id: 2, status: 'suspended', _source_file: 'landing/customers/day2.csv' },
      { customer_id: 3, status: 'active', _source_file: 'landing/customers/day2.csv' },
    ]);
    const audit = await project.audit();
    expect(audit.tables.find((t) => t.table === 'silver.customers')).toMatchObject({ bronze: 8, silver: 3, quarantined: 0, superseded: 5, balanced: true });
  });

  it('recomputes only the gold rows whose customers or orders changed, and equals a full rebuild', async () => {
    project = TestProject.fromTemplate(engine);
    await project.run();
    // Customer 1003 arrives with a valid email: its order 5007, quarantined as unknown_customer, now gets in.
    project.write('landing/customers/day2.csv', `${HEADER}\n1003,Ahmed Khan,ahmed.khan@example.com,,GB,active,2023-03-01,2024-02-01 00:00:00\n`);
    project.write('landing/orders/orders_day2.csv', 'order_id,customer_id,order_date,amount\n5101,1007,2024-02-02,2000.00\n');
    const report = await project.run();
    expect(report.steps.find((s) => s.step === 'silver.orders')?.message).toBe('re-checked rows whose silver.customers.customer_id changed');
    expect(await project.rows(`SELECT order_id FROM silver.orders WHERE order_id IN (5007, 5101) ORDER BY 1`)).toEqual([{ order_id: 5007 }, { order_id: 5101 }]);
    expect(await project.rows(`SELECT order_id, _reason FROM quarantine.orders ORDER BY 1`)).toEqual([
      { order_id: '5005', _reason: 'unknown_customer' },
      { order_id: '5006', _reason: 'invalid_order' },
    ]);
    const gold = report.steps.find((s) => s.step === 'gold.customer_360');
    expect(gold).toMatchObject({ rowsIn: 2, rowsWritten: 2, message: 'recomputed 2 changed keys (1 row replaced, 2 written)' });
    const incremental = await project.rows(`SELECT * FROM gold.customer_360 ORDER BY customer_id`);
    expect(incremental.find((r) => r.customer_id === 1003)).toMatchObject({ order_count: 1, segment: 'low' });
    expect(incremental.find((r) => r.customer_id === 1007)).toMatchObject({ order_count: 1, segment: 'high' });
    expect((await project.audit()).balanced).toBe(true);
    await project.run({ fullRefresh: true });
    expect(await project.rows(`SELECT * FROM gold.customer_360 ORDER BY customer_id`)).toEqual(incremental);
  });

  it('recomputes both customers when a re-checked order moves from one to the other', async () => {
    project = TestProject.fromTemplate(engine);
    // Order 5001 is listed twice: the later version names customer 2002, who has not arrived yet.
    project.write('landing/orders/orders_day1.csv', 'order_id,customer_id,order_date,amount\n5001,1001,2024-01-12,250.00\n5001,2002,2024-01-12,250.00\n');
    await project.run();
    expect(await project.rows(`SELECT order_count FROM gold.customer_360 WHERE customer_id = 1001`)).toEqual([{ order_count: 1 }]);
    project.write('landing/customers/day2.csv', `${HEADER}\n2002,Late Comer,late@example.com,,FR,active,,2024-02-01 00:00:00\n`);
    await project.run();
    expect(await project.rows(`SELECT customer_id, order_count FROM gold.customer_360 WHERE customer_id IN (1001, 2002) ORDER BY 1`)).toEqual([
      { customer_id: 1001, order_count: 0 },
      { customer_id: 2002, order_count: 1 },
    ]);
  });

  it('changes nothing on a second run with no new files', async () => {
    project = TestProject.fromTemplate(engine);
    await project.run();
    const snapshot = async (): Promise<unknown> => ({
      silver: await project.rows(`SELECT * FROM silver.customers ORDER BY customer_id`),
      quarantine: await project.rows(`SELECT * FROM quarantine.customers ORDER BY _source_row`),
      gold: await project.rows(`SELECT * FROM gold.customer_360 ORDER BY customer_id`),
      batches: await project.rows(`SELECT batch_id, source, path FROM refinery.batches ORDER BY source, batch_id`),
    });
    const before = await snapshot();
    const second = await project.run();
    expect(second.status).toBe('success');
    expect(second.steps.map((s) => s.status)).toEqual(['skipped', 'skipped', 'skipped', 'skipped', 'skipped']);
    expect(await snapshot()).toEqual(before);
  });

  it('ingests a changed file under the same path as a new batch and says so', async () => {
    project = TestProject.fromTemplate(engine);
    await project.run();
    project.write('landing/orders/orders_day1.csv', 'order_id,customer_id,order_date,amount\n5001,1001,2024-01-12,300.00\n');
    const report = await project.run();
    const files = report.steps.find((s) => s.step === 'bronze.orders')?.files ?? [];
    expect(files).toEqual([expect.objectContaining({ path: 'landing/orders/orders_day1.csv', outcome: 'changed', previousBatchId: 1, batchId: 2, rows: 1 })]);
    // Bronze is append-only: both versions of the file are kept.
    expect(await project.rows(`SELECT _batch_id, count(*) AS n FROM bronze.orders GROUP BY 1 ORDER BY 1`)).toEqual([
      { _batch_id: 1, n: 7 },
      { _batch_id: 2, n: 1 },
    ]);
    // The re-landed file replaces its earlier version: silver holds what the file says now.
    expect(await project.rows(`SELECT order_id, CAST(amount AS VARCHAR) AS amount FROM silver.orders`)).toEqual([{ order_id: 5001, amount: '300.00' }]);
    const audit = await project.audit();
    expect(audit.tables.find((t) => t.table === 'silver.orders')).toMatchObject({ bronze: 8, silver: 1, replaced: 7, balanced: true });
  });

  it('recovers from a fail check when the corrected file is landed under the same path', async () => {
    project = TestProject.fromTemplate(engine);
    const { readFileSync } = await import('node:fs');
    const config = readFileSync(`${project.dir}/refinery.config.ts`, 'utf8');
    project.write('refinery.config.ts', config.replace(`{ name: 'invalid_status', column: 'status', rule: { in: ['active', 'inactive', 'suspended', 'pending'] } }`, `{ name: 'invalid_status', column: 'status', rule: { in: ['active', 'inactive', 'suspended', 'pending'] }, action: 'fail' }`));
    await project.run();
    project.write('landing/customers/day2.csv', `${HEADER}\n2001,New,new@example.com,,FR,unknown,,2024-02-01 00:00:00\n`);
    const failed = await project.run();
    expect(failed.steps.find((s) => s.step === 'silver.customers')).toMatchObject({ status: 'failed', error: { code: 'check_failed', hint: expect.stringContaining('same path') } });
    expect((await project.run()).status).toBe('failed');
    project.write('landing/customers/day2.csv', `${HEADER}\n2001,New,new@example.com,,FR,active,,2024-02-01 00:00:00\n`);
    const fixed = await project.run();
    expect(fixed.status).toBe('success');
    expect(await project.rows(`SELECT status FROM silver.customers WHERE customer_id = 2001`)).toEqual([{ status: 'active' }]);
    expect((await project.audit()).balanced).toBe(true);
  });

  it('does not audit a table against rules it was not built with', async () => {
    project = TestProject.fromTemplate(engine);
    await project.run();
    const { readFileSync } = await import('node:fs');
    const config = readFileSync(`${project.dir}/refinery.config.ts`, 'utf8');
    project.write('refinery.config.ts', config.replace(`'suspended', 'pending'`, `'suspended'`));
    const audit = await project.audit();
    expect(audit.tables.find((t) => t.table === 'silver.customers')?.problems).toEqual(['its rules changed since it was last built; run `refinery run` to rebuild it, then audit again']);
    await project.run();
    expect((await project.audit()).balanced).toBe(true);
  });

  it('rebuilds silver from bronze when a rule changes, and says why', async () => {
    project = TestProject.fromTemplate(engine);
    await project.run();
    const { readFileSync } = await import('node:fs');
    const config = readFileSync(`${project.dir}/refinery.config.ts`, 'utf8');
    project.write('refinery.config.ts', config.replace(`rule: { in: ['active', 'inactive', 'suspended', 'pending'] }`, `rule: { in: ['active', 'inactive', 'suspended'] }`));
    const report = await project.run();
    const step = report.steps.find((s) => s.step === 'silver.customers');
    expect(step?.message).toMatch(/rules changed/);
    expect(step?.quarantinedByReason).toEqual({ invalid_email: 2, invalid_customer_id: 1, invalid_status: 1 });
    expect(report.steps.find((s) => s.step === 'gold.customer_360')?.status).toBe('success');
    expect(await project.rows(`SELECT count(*) AS n FROM silver.customers`)).toEqual([{ n: 3 }]);
    expect((await project.audit()).balanced).toBe(true);
  });
});
