import { defineProject } from 'refinery';

/**
 * Lab 1 — Medallion architecture: the course's messy Day 1 customers, refined bronze → silver → gold.
 *
 * bronze.*      every landed row exactly as received (text), plus lineage (_batch_id, _source_file, _source_row, ...)
 * silver.*      typed, cleaned and checked; rows failing a check go to quarantine.* with a _reason
 * gold.*        business-ready: one customer_360 row per customer
 *
 * Change a rule below, run `refinery run` again, and the silver table is rebuilt from bronze with the new rule.
 */
export default defineProject({
  name: 'customers',

  sources: {
    customers: {
      path: 'landing/customers/*.csv',
      columns: ['customer_id', 'name', 'email', 'phone', 'country', 'status', 'signup_date', 'updated_at'],
    },
    orders: {
      path: 'landing/orders/*.csv',
      columns: ['order_id', 'customer_id', 'order_date', 'amount'],
    },
  },

  silver: {
    customers: {
      columns: {
        customer_id: { type: 'integer', clean: ['trim'] },                                   // R1
        email: { clean: ['trim', 'lower'] },                                                 // R2
        status: { clean: ['trim', 'lower'] },                                                // R3
        name: { clean: ['trim', 'collapse_spaces', 'title_case'] },                          // R4
        phone: { clean: ['phone'] },                                                         // R5
        country: { clean: ['trim', 'upper'] },
        signup_date: { type: 'date', formats: ['YYYY-MM-DD', 'DD/MM/YYYY'], clean: ['trim'] }, // R6
        updated_at: { type: 'timestamp', clean: ['trim'] },                                  // R6
      },
      // In order: the first failing check gives a quarantined row its _reason.
      checks: [
        { name: 'invalid_customer_id', column: 'customer_id', rule: { min: 1 } },
        { name: 'invalid_email', column: 'email', rule: { matches: '^[a-z0-9._%+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}$' } },
        { name: 'invalid_status', column: 'status', rule: { in: ['active', 'inactive', 'suspended', 'pending'] } },
        { name: 'unparsed_signup_date', column: 'signup_date', rule: 'parses', action: 'warn' },
      ],
      // R7: one row per customer_id; the greatest updated_at wins, ties go to the row that arrived last.
      key: 'customer_id',
      latest: 'updated_at',
      materialize: 'merge',
    },

    orders: {
      columns: {
        order_id: { type: 'integer', clean: ['trim'] },
        customer_id: { type: 'integer', clean: ['trim'] },
        order_date: { type: 'date', formats: ['YYYY-MM-DD', 'DD/MM/YYYY'], clean: ['trim'] },
        amount: { type: 'decimal(12,2)', clean: ['trim'] },
      },
      checks: [
        { name: 'invalid_order', column: 'order_id', rule: 'not_null' },
        { name: 'invalid_order', column: 'customer_id', rule: 'not_null' },
        { name: 'invalid_order', column: 'order_date', rule: 'not_null' },
        { name: 'invalid_order', column: 'amount', rule: { min: 0 } },
        { name: 'unknown_customer', column: 'customer_id', rule: { references: 'silver.customers.customer_id' } },
      ],
      key: 'order_id',
      // When customers change, only the orders of those customers are checked again (an order that was
      // quarantined as unknown_customer gets in once its customer arrives).
    },
  },

  gold: {
    customer_360: {
      description: 'One row per customer: profile, order count, total spend, last order and a spend segment.',
      // With a key, a run recomputes only the customers whose rows (or orders) changed.
      key: 'customer_id',
      sql: `
        SELECT
          c.customer_id, c.name, c.email, c.status, c.country, c.signup_date,
          count(o.order_id)               AS order_count,
          coalesce(sum(o.amount), 0)      AS total_spend,
          max(o.order_date)               AS last_order_date,
          CASE
            WHEN coalesce(sum(o.amount), 0) >= 1000 THEN 'high'
            WHEN coalesce(sum(o.amount), 0) >= 100  THEN 'medium'
            WHEN coalesce(sum(o.amount), 0) > 0     THEN 'low'
            ELSE 'none'
          END                             AS segment
        FROM silver.customers c
        LEFT JOIN silver.orders o ON o.customer_id = c.customer_id
        GROUP BY c.customer_id, c.name, c.email, c.status, c.country, c.signup_date
        ORDER BY c.customer_id`,
    },
  },
});
