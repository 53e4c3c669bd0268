import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import { TestProject } from './helpers/temp-project.js';

/**
 * "Incremental == full refresh", the invariant dbt users learn the hard way, as a property: for any sequence of
 * landed customer and order files (late customers, orders that move between customers, re-landed files), the
 * incrementally maintained silver and gold equal a rebuild from bronze.
 */
const CUSTOMERS = 'customer_id,name,email,phone,country,status,signup_date,updated_at';
const ORDERS = 'order_id,customer_id,order_date,amount';

const customerRow = fc.record({
  id: fc.integer({ min: 1, max: 8 }),
  status: fc.constantFrom('active', 'inactive', 'bogus'),
  day: fc.integer({ min: 1, max: 5 }),
});
const orderRow = fc.record({ id: fc.integer({ min: 1, max: 3 }), customer: fc.integer({ min: 1, max: 9 }), amount: fc.integer({ min: 0, max: 2000 }) });
const landing = fc.record({
  customers: fc.array(customerRow, { maxLength: 5 }),
  orders: fc.array(orderRow, { maxLength: 5 }),
  relandFirst: fc.boolean(),
});

const SNAPSHOT = {
  customers: `SELECT customer_id, status, CAST(updated_at AS VARCHAR) AS u FROM silver.customers ORDER BY 1`,
  orders: `SELECT order_id, customer_id, CAST(amount AS VARCHAR) AS a FROM silver.orders ORDER BY 1`,
  quarantine: `SELECT order_id, _reason FROM quarantine.orders ORDER BY 1, 2`,
  gold: `SELECT customer_id, order_count, CAST(total_spend AS VARCHAR) AS t, segment FROM gold.customer_360 ORDER BY 1`,
};

describe.each(ENGINES)('incremental equals full refresh on $name', (engine) => {
  it('holds for random landing sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(landing, { minLength: 1, maxLength: 4 }), async (days) => {
        const project = TestProject.fromTemplate(engine);
        try {
          project.remove('landing/customers/customers_day1.csv');
          project.remove('landing/orders/orders_day1.csv');
          for (const [i, day] of days.entries()) {
            const customersFile = day.relandFirst && i > 0 ? 'landing/customers/c0.csv' : `landing/customers/c${i}.csv`;
            project.write(customersFile, [CUSTOMERS, ...day.customers.map((c) => `${c.id},N${c.id},c${c.id}@x.co,,FR,${c.status},,2024-01-0${c.day} 00:00:00`)].join('\n') + '\n');
            project.write(`landing/orders/o${i}.csv`, [ORDERS, ...day.orders.map((o) => `${o.id},${o.customer},2024-02-01,${o.amount}.00`)].join('\n') + '\n');
            const report = await project.run();
            expect(report.status, JSON.stringify(report.steps.filter((s) => s.status === 'failed'))).toBe('success');
          }
          const incremental = Object.fromEntries(await Promise.all(Object.entries(SNAPSHOT).map(async ([k, sql]) => [k, await project.rows(sql)])));
          await project.run({ fullRefresh: true });
          const full = Object.fromEntries(await Promise.all(Object.entries(SNAPSHOT).map(async ([k, sql]) => [k, await project.rows(sql)])));
          expect(incremental).toEqual(full);
          expect((await project.audit()).balanced).toBe(true);
        } finally {
          await project.dispose();
        }
      }),
      { numRuns: 20 },
    );
  }, 300_000);
});
