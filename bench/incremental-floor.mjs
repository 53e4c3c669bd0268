// The floor of the incremental benchmark: the customers template's day-2 incremental load written by hand as plain
// DuckDB SQL, on a copy of the warehouse Refinery built on day 1.
//
// It does the incremental work Refinery does, the cheapest way a person who knows the pipeline would write it, in
// one transaction: append the change file to bronze (same lineage), type/clean/check the new rows with the same
// expressions as the template compiles to (test/sql/duckdb/silver-customers.sql), quarantine the failures, merge
// the rest into silver.customers by key with latest-wins, re-check the orders of the changed customers (orders
// reference customers: a quarantined order can get in now), and recompute gold.customer_360 for the customer ids
// touched. None of Refinery's bookkeeping: no file hash or record count, no state, change log, step records,
// introspection or OpenLineage facets. See bench/README.md.
import { DuckDBInstance } from '@duckdb/node-api';

const WS = `' ' || chr(9) || chr(10) || chr(13) || chr(160)`;
const trim = (x) => `trim(${x}, ${WS})`;
const lit = (s) => `'${String(s).replaceAll("'", "''")}'`;
const titleCase = (x) =>
  `list_transform([${x}], lambda s: CASE WHEN s IS NULL THEN NULL ELSE array_to_string(list_transform(range(1, length(s) + 1), lambda i: CASE WHEN i = 1 OR s[i - 1] IN (' ', '-', '''') THEN upper(s[i]) ELSE lower(s[i]) END), '') END)[1]`;
const wholeNumber = (x) => `CASE WHEN regexp_full_match(${x}, '[+-]?[0-9]+') THEN TRY_CAST(${x} AS BIGINT) END`;
const dateOf = (x) => `COALESCE(CAST(TRY_STRPTIME(${x}, '%Y-%m-%d') AS DATE), CAST(TRY_STRPTIME(${x}, '%d/%m/%Y') AS DATE))`;
const timestampOf = (x) =>
  `CASE WHEN regexp_full_match(${x}, '.*[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)? ?(Z|[+-][0-9]{2}(:?[0-9]{2})?)') THEN TRY_CAST(${x} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' ELSE TRY_CAST(${x} AS TIMESTAMP) END`;
const decimalOf = (x) => `CASE WHEN regexp_full_match(${x}, '[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)') THEN TRY_CAST(${x} AS DECIMAL(12,2)) END`;
const EMAIL = '^[a-z0-9._%+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}$';
const shown = (clean) => `coalesce('''' || ${clean} || '''', '(empty)')`;

const CUSTOMER_COLUMNS = ['customer_id', 'name', 'email', 'phone', 'country', 'status', 'signup_date', 'updated_at'];
const ORDER_COLUMNS = ['order_id', 'customer_id', 'order_date', 'amount'];
const LINEAGE = ['_batch_id', '_source_file', '_source_row', '_ingested_at', '_row_hash', '_load_error', '_raw_line'];
const quoted = (cols) => cols.map((c) => `"${c}"`).join(', ');
/** Arrival order, as Refinery breaks ties: later batch, later file, later row. */
const arrival = (a) => `(${a}._batch_id, ${a}._source_file, ${a}._source_row)`;

function readCsv(path, columns) {
  const spec = `{${columns.map((c) => `${lit(c)}: 'VARCHAR'`).join(', ')}}`;
  return `read_csv(${lit(path)}, header = true, auto_detect = false, columns = ${spec}, delim = ',', quote = '"', escape = '"',
    encoding = 'utf-8', nullstr = chr(0), allow_quoted_nulls = false, strict_mode = true)`;
}

/** The statements, in order, each with the step it belongs to (for the per-step breakdown). */
function statements({ changesFile, changesRelPath, ingestedAt, runId }) {
  const hash = `md5(to_json([${[...CUSTOMER_COLUMNS].sort().flatMap((c) => [lit(c), `"${c}"`]).join(', ')}]))`;
  const orderChecks = [
    ['invalid_order', 'NOT coalesce(t_order_id IS NOT NULL, FALSE)', `'order_id ' || ${shown('c_order_id')} || ' must be a whole number'`],
    ['invalid_order', 'NOT coalesce(t_customer_id IS NOT NULL, FALSE)', `'customer_id ' || ${shown('c_customer_id')} || ' must be a whole number'`],
    ['invalid_order', 'NOT coalesce(t_order_date IS NOT NULL, FALSE)', `'order_date ' || ${shown('c_order_date')} || ' must be a valid date'`],
    ['invalid_order', 'NOT coalesce(t_amount >= 0, FALSE)', `'amount ' || ${shown('c_amount')} || ' must be a valid decimal(12,2) ≥ 0'`],
    ['unknown_customer', 'NOT known_customer', `'customer_id ' || ${shown('c_customer_id')} || ' must exist in silver.customers.customer_id'`],
  ];
  return [
    // bronze: the change file appended as the next batch, every value as text, with the same lineage.
    [
      'bronze.customers',
      `CREATE TEMP TABLE batch AS SELECT coalesce(max(_batch_id), 0) + 1 AS id FROM bronze.customers`,
    ],
    [
      'bronze.customers',
      `INSERT INTO bronze.customers (${quoted(CUSTOMER_COLUMNS)}, _batch_id, _source_file, _source_row, _ingested_at, _row_hash)
       SELECT ${quoted(CUSTOMER_COLUMNS)}, (SELECT id FROM batch), ${lit(changesRelPath)}, row_number() OVER (), TIMESTAMP ${lit(ingestedAt)}, ${hash}
       FROM ${readCsv(changesFile, CUSTOMER_COLUMNS)}`,
    ],
    // silver.customers: the new rows typed, cleaned and checked (rules R1–R6 of the template).
    [
      'silver.customers',
      `CREATE TEMP TABLE customers_checked AS
       WITH cleaned AS (
         SELECT *,
           NULLIF(${trim('customer_id')}, '') AS c_customer_id,
           NULLIF(${titleCase(`regexp_replace(${trim('name')}, '\\s+', ' ', 'g')`)}, '') AS c_name,
           NULLIF(lower(${trim('email')}), '') AS c_email,
           NULLIF(NULLIF(CASE WHEN regexp_full_match(phone, '\\s*\\+.*') THEN '+' ELSE '' END || regexp_replace(phone, '[^0-9]', '', 'g'), '+'), '') AS c_phone,
           NULLIF(upper(${trim('country')}), '') AS c_country,
           NULLIF(lower(${trim('status')}), '') AS c_status,
           NULLIF(${trim('signup_date')}, '') AS c_signup_date,
           NULLIF(${trim('updated_at')}, '') AS c_updated_at
         FROM bronze.customers WHERE _batch_id = (SELECT id FROM batch)
       ), typed AS (
         SELECT *, ${wholeNumber('c_customer_id')} AS t_customer_id, ${dateOf('c_signup_date')} AS t_signup_date, ${timestampOf('c_updated_at')} AS t_updated_at
         FROM cleaned
       )
       SELECT *,
         CASE
           WHEN _load_error IS NOT NULL THEN 'malformed_row'
           WHEN NOT coalesce(t_customer_id >= 1, FALSE) THEN 'invalid_customer_id'
           WHEN NOT coalesce(regexp_full_match(c_email, ${lit(EMAIL)}), FALSE) THEN 'invalid_email'
           WHEN NOT coalesce(c_status IN ('active', 'inactive', 'suspended', 'pending'), FALSE) THEN 'invalid_status'
         END AS _reason,
         CASE
           WHEN _load_error IS NOT NULL THEN _load_error
           WHEN NOT coalesce(t_customer_id >= 1, FALSE) THEN 'customer_id ' || ${shown('c_customer_id')} || ' must be a whole number ≥ 1'
           WHEN NOT coalesce(regexp_full_match(c_email, ${lit(EMAIL)}), FALSE) THEN 'email ' || ${shown('c_email')} || ${lit(` must match ${EMAIL}`)}
           WHEN NOT coalesce(c_status IN ('active', 'inactive', 'suspended', 'pending'), FALSE) THEN 'status ' || ${shown('c_status')} || ' must be one of active, inactive, suspended, pending'
         END AS _detail
       FROM typed`,
    ],
    [
      'silver.customers',
      `INSERT INTO quarantine.customers (${quoted(CUSTOMER_COLUMNS)}, _reason, _detail, ${LINEAGE.join(', ')}, _run_id)
       SELECT ${quoted(CUSTOMER_COLUMNS)}, _reason, _detail, ${LINEAGE.join(', ')}, ${runId} FROM customers_checked WHERE _reason IS NOT NULL`,
    ],
    // R7 within the batch: one row per customer_id, the greatest updated_at, ties to the row that arrived last.
    [
      'silver.customers',
      `CREATE TEMP TABLE customers_win AS
       SELECT t_customer_id AS customer_id, c_email AS email, c_status AS status, c_name AS name, c_phone AS phone, c_country AS country,
         t_signup_date AS signup_date, t_updated_at AS updated_at, _batch_id, _source_file, _source_row, _row_hash
       FROM customers_checked WHERE _reason IS NULL
       QUALIFY row_number() OVER (PARTITION BY t_customer_id ORDER BY t_updated_at DESC NULLS LAST, _batch_id DESC, _source_file DESC, _source_row DESC) = 1`,
    ],
    // ... and against silver: a winner replaces the row of its key only if it is later (a NULL updated_at loses).
    [
      'silver.customers',
      `DELETE FROM silver.customers AS s USING customers_win AS w
       WHERE s.customer_id = w.customer_id
         AND (w.updated_at > s.updated_at OR (w.updated_at IS NOT NULL AND s.updated_at IS NULL)
              OR ((w.updated_at = s.updated_at OR (w.updated_at IS NULL AND s.updated_at IS NULL)) AND ${arrival('w')} > ${arrival('s')}))`,
    ],
    ['silver.customers', `INSERT INTO silver.customers SELECT w.* FROM customers_win w ANTI JOIN silver.customers s ON s.customer_id = w.customer_id`],
    // silver.orders: merges never remove a customer, so orders in silver still pass; only the quarantined orders of
    // the changed customers can change. They are picked by their customer id alone, then judged with every check.
    [
      'silver.orders',
      `CREATE TEMP TABLE orders_again AS
       SELECT * FROM quarantine.orders WHERE ${wholeNumber(`NULLIF(${trim('customer_id')}, '')`)} IN (SELECT customer_id FROM customers_win)`,
    ],
    [
      'silver.orders',
      `CREATE TEMP TABLE orders_checked AS
       WITH cleaned AS (
         SELECT * EXCLUDE (_reason, _detail, _run_id),
           NULLIF(${trim('order_id')}, '') AS c_order_id, NULLIF(${trim('customer_id')}, '') AS c_customer_id,
           NULLIF(${trim('order_date')}, '') AS c_order_date, NULLIF(${trim('amount')}, '') AS c_amount
         FROM orders_again
       ), typed AS (
         SELECT *, ${wholeNumber('c_order_id')} AS t_order_id, ${wholeNumber('c_customer_id')} AS t_customer_id,
           ${dateOf('c_order_date')} AS t_order_date, ${decimalOf('c_amount')} AS t_amount
         FROM cleaned
       ), rechecked AS (
         -- The reference check, once per row, as a lookup of these few ids in silver.customers.
         SELECT *, EXISTS (SELECT 1 FROM silver.customers s WHERE s.customer_id = t_customer_id) AS known_customer FROM typed
       )
       SELECT *,
         CASE WHEN _load_error IS NOT NULL THEN 'malformed_row' ${orderChecks.map(([name, failing]) => `WHEN ${failing} THEN ${lit(name)}`).join(' ')} END AS _reason,
         CASE WHEN _load_error IS NOT NULL THEN _load_error ${orderChecks.map(([, failing, detail]) => `WHEN ${failing} THEN ${detail}`).join(' ')} END AS _detail
       FROM rechecked`,
    ],
    ['silver.orders', `DELETE FROM quarantine.orders WHERE (_batch_id, _source_row) IN (SELECT _batch_id, _source_row FROM orders_checked)`],
    [
      'silver.orders',
      `INSERT INTO quarantine.orders (${quoted(ORDER_COLUMNS)}, _reason, _detail, ${LINEAGE.join(', ')}, _run_id)
       SELECT ${quoted(ORDER_COLUMNS)}, _reason, _detail, ${LINEAGE.join(', ')}, ${runId} FROM orders_checked WHERE _reason IS NOT NULL`,
    ],
    [
      'silver.orders',
      `CREATE TEMP TABLE orders_win AS
       SELECT t_order_id AS order_id, t_customer_id AS customer_id, t_order_date AS order_date, t_amount AS amount, _batch_id, _source_file, _source_row, _row_hash
       FROM orders_checked WHERE _reason IS NULL
       QUALIFY row_number() OVER (PARTITION BY t_order_id ORDER BY _batch_id DESC, _source_file DESC, _source_row DESC) = 1`,
    ],
    // Gold keys: the changed customers, the customers of the orders that got in, and of the orders they replace.
    [
      'silver.orders',
      `CREATE TEMP TABLE touched AS
       SELECT customer_id FROM customers_win UNION SELECT customer_id FROM orders_win
       UNION SELECT s.customer_id FROM silver.orders s JOIN orders_win w ON s.order_id = w.order_id AND ${arrival('w')} > ${arrival('s')}`,
    ],
    ['silver.orders', `DELETE FROM silver.orders AS s USING orders_win AS w WHERE s.order_id = w.order_id AND ${arrival('w')} > ${arrival('s')}`],
    ['silver.orders', `INSERT INTO silver.orders SELECT w.* FROM orders_win w ANTI JOIN silver.orders s ON s.order_id = w.order_id`],
    // gold.customer_360 for the touched customers only: the template's model, both inputs filtered to those ids.
    ['gold.customer_360', `DELETE FROM gold.customer_360 WHERE customer_id IN (SELECT customer_id FROM touched)`],
    [
      'gold.customer_360',
      `INSERT INTO gold.customer_360
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
       FROM (SELECT * FROM silver.customers WHERE customer_id IN (SELECT customer_id FROM touched)) c
       LEFT JOIN (SELECT * FROM silver.orders WHERE customer_id IN (SELECT customer_id FROM touched)) o ON o.customer_id = c.customer_id
       GROUP BY c.customer_id, c.name, c.email, c.status, c.country, c.signup_date`,
    ],
  ];
}

/**
 * Runs the floor on `dbPath` (a copy of the day-1 warehouse) and returns its timings (ms) and CPU time. Opening and
 * closing the database are not timed (Refinery's open and close are not timed either); BEGIN to COMMIT is.
 */
export async function runIncrementalFloor({ dbPath, threads, changesFile, changesRelPath, ingestedAt, runId }) {
  const called = performance.now();
  const instance = await DuckDBInstance.create(dbPath, { threads: String(threads) });
  const connection = await instance.connect();
  await connection.run(`SET TimeZone = 'UTC'`);
  const steps = new Map();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  await connection.run('BEGIN TRANSACTION');
  const timings = [];
  for (const [step, sql] of statements({ changesFile, changesRelPath, ingestedAt, runId })) {
    const t0 = performance.now();
    await connection.run(sql);
    const ms = performance.now() - t0;
    steps.set(step, (steps.get(step) ?? 0) + ms);
    timings.push({ step, ms: Math.round(ms * 10) / 10, sql: sql.replace(/\s+/g, ' ').trim().slice(0, 120) });
  }
  const t0 = performance.now();
  await connection.run('COMMIT');
  steps.set('commit', performance.now() - t0);
  const totalMs = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  connection.closeSync();
  instance.closeSync();
  return { totalMs, cpuMs: (cpu.user + cpu.system) / 1000, callMs: performance.now() - called, steps: [...steps].map(([step, ms]) => ({ step, ms })), statements: timings };
}
