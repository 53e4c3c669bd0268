// The floor of the medallion benchmark: the customers template's full load written by hand as plain DuckDB SQL.
//
// Same input files, same reader options, same lineage, same cleaning rules, checks, reasons, details, dedupe
// ordering and gold SQL as templates/customers/refinery.config.ts compiled by Refinery — so the tables it writes
// are identical to Refinery's (the benchmark checks that) — but none of Refinery's bookkeeping: no independent
// record count or file hash, no state tables, no per-step transactions or step records, no introspection.
import { DuckDBInstance } from '@duckdb/node-api';

const WS = `' ' || chr(9) || chr(10) || chr(13) || chr(160)`;
const trim = (x) => `trim(${x}, ${WS})`;
const lit = (s) => `'${String(s).replaceAll("'", "''")}'`;

// Rules R1–R7 of the template, as SQL over one raw (text) column each.
// DuckDB has no initcap: capitalise the first character of every run of word characters or single separator
// (space, hyphen, apostrophe) and lower-case the rest of the run.
const titleCase = (x) => `array_to_string(list_transform(regexp_extract_all(${x}, '[^ \\-'']+|[ \\-'']'), lambda w: upper(w[1]) || lower(w[2:])), '')`;
const wholeNumber = (x) => `CASE WHEN regexp_full_match(${x}, '[+-]?[0-9]+') THEN TRY_CAST(${x} AS BIGINT) END`;
const dateOf = (x) => `COALESCE(CAST(TRY_STRPTIME(${x}, '%Y-%m-%d') AS DATE), CAST(TRY_STRPTIME(${x}, '%d/%m/%Y') AS DATE))`;
// A timestamp with a zone suffix is converted to UTC; a naive one is taken as it is.
const timestampOf = (x) =>
  `CASE WHEN regexp_full_match(${x}, '.*[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)? ?(Z|[+-][0-9]{2}(:?[0-9]{2})?)') THEN TRY_CAST(${x} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' ELSE TRY_CAST(${x} AS TIMESTAMP) END`;
const decimalOf = (x) => `CASE WHEN regexp_full_match(${x}, '[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)') THEN TRY_CAST(${x} AS DECIMAL(12,2)) END`;
const EMAIL = '^[a-z0-9._%+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}$';
const shown = (clean) => `coalesce('''' || ${clean} || '''', '(empty)')`;

export const CUSTOMER_COLUMNS = ['customer_id', 'name', 'email', 'phone', 'country', 'status', 'signup_date', 'updated_at'];
export const ORDER_COLUMNS = ['order_id', 'customer_id', 'order_date', 'amount'];

function readCsv(path, columns) {
  const spec = `{${columns.map((c) => `${lit(c)}: 'VARCHAR'`).join(', ')}}`;
  return `read_csv(${lit(path)}, header = true, auto_detect = false, columns = ${spec}, delim = ',', quote = '"', escape = '"',
    encoding = 'utf-8', nullstr = chr(0), allow_quoted_nulls = false, strict_mode = true)`;
}

/** Bronze: every row as text, plus batch, file, row number, ingest time and a hash of the row (JSON of name/value pairs). */
function bronzeSql(table, file, relPath, columns, batchId, ingestedAt) {
  const hash = `md5(to_json([${[...columns].sort().flatMap((c) => [lit(c), `"${c}"`]).join(', ')}]))`;
  return [
    `CREATE TABLE bronze.${table} AS
     SELECT ${columns.map((c) => `"${c}"`).join(', ')}, ${batchId}::BIGINT AS _batch_id, ${lit(relPath)} AS _source_file,
       row_number() OVER () AS _source_row, TIMESTAMP ${lit(ingestedAt)} AS _ingested_at, ${hash} AS _row_hash,
       NULL::VARCHAR AS _load_error, NULL::VARCHAR AS _raw_line
     FROM ${readCsv(file, columns)}`,
  ];
}

const LINEAGE = ['_batch_id', '_source_file', '_source_row', '_ingested_at', '_row_hash', '_load_error', '_raw_line'];

/**
 * One pass over bronze: clean, type, then find the first failing check (each check evaluated once) and name it.
 * The result keeps what quarantine and silver need: raw columns, lineage, typed values, _reason and _detail.
 */
function checkedSql({ target, bronze, cleaned, typed, checks, keep, extra = [] }) {
  return `CREATE TEMP TABLE ${target} AS
     WITH cleaned AS (SELECT *, ${cleaned.join(', ')} FROM ${bronze}),
     typed AS (SELECT *, ${typed.join(', ')} FROM cleaned),
     checked AS (SELECT *, CASE ${checks.map(([, passes], i) => `WHEN NOT ${passes} THEN ${i + 1}`).join(' ')} END AS failed_check FROM typed)
     SELECT ${[...keep, ...LINEAGE].join(', ')},
       CASE failed_check ${checks.map(([name], i) => `WHEN ${i + 1} THEN ${lit(name)}`).join(' ')} END AS _reason,
       CASE failed_check ${checks.map(([, , detail], i) => `WHEN ${i + 1} THEN ${detail}`).join(' ')} END AS _detail${extra.map((e) => `, ${e}`).join('')}
     FROM checked`;
}

function customersSql() {
  const checks = [
    ['invalid_customer_id', 'coalesce(t_customer_id >= 1, FALSE)', `'customer_id ' || ${shown('c_customer_id')} || ' must be a whole number ≥ 1'`],
    ['invalid_email', `coalesce(regexp_full_match(c_email, ${lit(EMAIL)}), FALSE)`, `'email ' || ${shown('c_email')} || ${lit(` must match ${EMAIL}`)}`],
    ['invalid_status', `coalesce(c_status IN ('active', 'inactive', 'suspended', 'pending'), FALSE)`, `'status ' || ${shown('c_status')} || ' must be one of active, inactive, suspended, pending'`],
  ];
  return [
    checkedSql({
      target: 'customers_checked',
      bronze: 'bronze.customers',
      cleaned: [
        `NULLIF(${trim('customer_id')}, '') AS c_customer_id`,
        `NULLIF(${titleCase(`regexp_replace(${trim('name')}, '\\s+', ' ', 'g')`)}, '') AS c_name`,
        `NULLIF(lower(${trim('email')}), '') AS c_email`,
        `NULLIF(NULLIF(CASE WHEN regexp_full_match(phone, '\\s*\\+.*') THEN '+' ELSE '' END || regexp_replace(phone, '[^0-9]', '', 'g'), '+'), '') AS c_phone`,
        `NULLIF(upper(${trim('country')}), '') AS c_country`,
        `NULLIF(lower(${trim('status')}), '') AS c_status`,
        `NULLIF(${trim('signup_date')}, '') AS c_signup_date`,
        `NULLIF(${trim('updated_at')}, '') AS c_updated_at`,
      ],
      typed: [`${wholeNumber('c_customer_id')} AS t_customer_id`, `${dateOf('c_signup_date')} AS t_signup_date`, `${timestampOf('c_updated_at')} AS t_updated_at`],
      checks,
      keep: [...CUSTOMER_COLUMNS.map((c) => `"${c}"`), 't_customer_id', 'c_email', 'c_status', 'c_name', 'c_phone', 'c_country', 't_signup_date', 't_updated_at'],
      // The warn check (unparsed_signup_date) only counts.
      extra: ['(c_signup_date IS NULL OR t_signup_date IS NOT NULL) AS signup_date_parses'],
    }),
    `CREATE TABLE quarantine.customers AS
     SELECT ${CUSTOMER_COLUMNS.map((c) => `"${c}"`).join(', ')}, _reason, _detail, ${LINEAGE.join(', ')}, 1::BIGINT AS _run_id
     FROM customers_checked WHERE _reason IS NOT NULL`,
    // R7: one row per customer_id, the greatest updated_at wins, ties to the row that arrived last.
    `CREATE TABLE silver.customers AS
     SELECT t_customer_id AS customer_id, c_email AS email, c_status AS status, c_name AS name, c_phone AS phone, c_country AS country,
       t_signup_date AS signup_date, t_updated_at AS updated_at, _batch_id, _source_file, _source_row, _row_hash
     FROM customers_checked WHERE _reason IS NULL
     QUALIFY row_number() OVER (PARTITION BY t_customer_id ORDER BY t_updated_at DESC NULLS LAST, _batch_id DESC, _source_file DESC, _source_row DESC) = 1`,
  ];
}

function ordersSql() {
  const checks = [
    ['invalid_order', 'coalesce(t_order_id IS NOT NULL, FALSE)', `'order_id ' || ${shown('c_order_id')} || ' must be a whole number'`],
    ['invalid_order', 'coalesce(t_customer_id IS NOT NULL, FALSE)', `'customer_id ' || ${shown('c_customer_id')} || ' must be a whole number'`],
    ['invalid_order', 'coalesce(t_order_date IS NOT NULL, FALSE)', `'order_date ' || ${shown('c_order_date')} || ' must be a valid date'`],
    ['invalid_order', 'coalesce(t_amount >= 0, FALSE)', `'amount ' || ${shown('c_amount')} || ' must be a valid decimal(12,2) ≥ 0'`],
    ['unknown_customer', 'coalesce(t_customer_id IN (SELECT customer_id FROM silver.customers), FALSE)', `'customer_id ' || ${shown('c_customer_id')} || ' must exist in silver.customers.customer_id'`],
  ];
  return [
    checkedSql({
      target: 'orders_checked',
      bronze: 'bronze.orders',
      cleaned: [
        `NULLIF(${trim('order_id')}, '') AS c_order_id`,
        `NULLIF(${trim('customer_id')}, '') AS c_customer_id`,
        `NULLIF(${trim('order_date')}, '') AS c_order_date`,
        `NULLIF(${trim('amount')}, '') AS c_amount`,
      ],
      typed: [`${wholeNumber('c_order_id')} AS t_order_id`, `${wholeNumber('c_customer_id')} AS t_customer_id`, `${dateOf('c_order_date')} AS t_order_date`, `${decimalOf('c_amount')} AS t_amount`],
      checks,
      keep: [...ORDER_COLUMNS.map((c) => `"${c}"`), 't_order_id', 't_customer_id', 't_order_date', 't_amount'],
    }),
    `CREATE TABLE quarantine.orders AS
     SELECT ${ORDER_COLUMNS.map((c) => `"${c}"`).join(', ')}, _reason, _detail, ${LINEAGE.join(', ')}, 1::BIGINT AS _run_id
     FROM orders_checked WHERE _reason IS NOT NULL`,
    `CREATE TABLE silver.orders AS
     SELECT t_order_id AS order_id, t_customer_id AS customer_id, t_order_date AS order_date, t_amount AS amount, _batch_id, _source_file, _source_row, _row_hash
     FROM orders_checked WHERE _reason IS NULL
     QUALIFY row_number() OVER (PARTITION BY t_order_id ORDER BY _batch_id DESC, _source_file DESC, _source_row DESC) = 1`,
  ];
}

/** Counts a run reports: rows in, quarantined by reason, warnings, superseded — the checks' outcome. */
const STATS = {
  customers: `SELECT count(*) AS rows_in, count_if(_reason IS NOT NULL) AS quarantined, count_if(_reason IS NULL AND NOT signup_date_parses) AS warned,
                (SELECT count(*) FROM silver.customers) AS written FROM customers_checked`,
  orders: `SELECT count(*) AS rows_in, count_if(_reason IS NOT NULL) AS quarantined, 0 AS warned, (SELECT count(*) FROM silver.orders) AS written FROM orders_checked`,
};

// The template's gold model, as written in templates/customers/refinery.config.ts.
const GOLD_CUSTOMER_360 = `
  CREATE TABLE gold.customer_360 AS
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
  ORDER BY c.customer_id`;

/**
 * Runs the floor into a fresh database file and returns its timings (ms). `files` are absolute paths of the
 * landing files, `relPaths` the lineage paths (relative to a project, as Refinery records them).
 */
export async function runFloor({ dbPath, threads, files, relPaths, ingestedAt }) {
  const steps = [];
  const started = performance.now();
  const instance = await DuckDBInstance.create(dbPath, { threads: String(threads) });
  const connection = await instance.connect();
  const run = async (name, statements) => {
    const t0 = performance.now();
    let result;
    for (const sql of statements) result = await connection.runAndReadAll(sql);
    steps.push({ step: name, ms: performance.now() - t0 });
    return result;
  };
  await run('setup', [`SET TimeZone = 'UTC'`, ...['bronze', 'silver', 'quarantine', 'gold'].map((s) => `CREATE SCHEMA ${s}`)]);
  await run('bronze.customers', bronzeSql('customers', files.customers, relPaths.customers, CUSTOMER_COLUMNS, 1, ingestedAt));
  await run('bronze.orders', bronzeSql('orders', files.orders, relPaths.orders, ORDER_COLUMNS, 1, ingestedAt));
  const stats = {};
  await run('silver.customers', customersSql());
  stats.customers = (await run('silver.customers stats', [STATS.customers])).getRowObjectsJson()[0];
  await run('silver.orders', ordersSql());
  stats.orders = (await run('silver.orders stats', [STATS.orders])).getRowObjectsJson()[0];
  await run('gold.customer_360', [GOLD_CUSTOMER_360]);
  await run('checkpoint + close', [`CHECKPOINT`]);
  connection.closeSync();
  instance.closeSync();
  return { totalMs: performance.now() - started, steps, stats };
}
