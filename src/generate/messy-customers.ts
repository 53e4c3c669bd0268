import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DuckDBWarehouse } from '../warehouse/duckdb/duckdb-warehouse.js';
import type { SqlSession } from '../warehouse/warehouse.js';

/**
 * Deterministic, realistically messy customer (and order) CSV files, for benchmarks, load tests and labs.
 *
 * The mess mirrors the customers template's own sample (templates/customers/landing/customers): stray spaces,
 * mixed case, quoted names (some with a comma inside), bad emails, invalid statuses, missing or non-numeric ids,
 * dates in two formats plus some that do not parse, and customers that arrive more than once with a different
 * `updated_at`. Roughly, per customer row:
 *
 * | mess                                      | share  | what the customers template does with it      |
 * | ----------------------------------------- | ------ | --------------------------------------------- |
 * | customer_id empty / not a whole number / ≤ 0 | ~1%    | quarantined: invalid_customer_id              |
 * | email without @, without TLD, empty, ...  | ~2%    | quarantined: invalid_email                    |
 * | status outside active/inactive/...        | ~1%    | quarantined: invalid_status                   |
 * | signup_date that does not parse           | ~1%    | kept, warned: unparsed_signup_date            |
 * | customer_id already used by an earlier row | ~5%    | deduplicated: the latest updated_at wins      |
 * | name quoted and containing a comma        | ~2%    | cleaned like any other name                   |
 *
 * Every value is a pure function of (seed, row number): rows are produced by one set-based query over
 * `range(rows)` in an in-memory DuckDB and written by the engine's own CSV writer, so a million rows take about
 * a second, and the same seed and row count give a byte-identical file (for the same DuckDB version, which
 * package.json pins). Each line is assembled as one text value and written with quoting switched off, so the
 * CSV quoting is exactly what this module builds: only names are ever quoted, and they never contain a quote.
 *
 * @example
 * ```ts
 * import { generateMessyCustomers } from 'refinery/dist/generate/messy-customers.js';
 * const files = await generateMessyCustomers({ rows: 1_000_000, seed: 42, out: 'landing/customers/customers.csv',
 *   orders: { rows: 500_000, out: 'landing/orders/orders.csv' } });
 * console.log(files.customers.bytes, files.orders?.rows);
 * ```
 */
export interface MessyCustomersOptions {
  /** Customer data rows to write (the header line is extra). A whole number ≥ 0. */
  readonly rows: number;
  /** Seed of the pseudo-random choices: same seed and rows ⇒ the same bytes. Default 42. */
  readonly seed?: number;
  /** Path of the customers CSV to write (parent directories are created; an existing file is replaced). */
  readonly out: string;
  /** Also write an orders file whose customer_ids mostly refer to the customers generated here. */
  readonly orders?: MessyOrdersOptions;
  /** DuckDB worker threads for generating; the output does not depend on it. Default: all cores. */
  readonly threads?: number;
}

export interface MessyOrdersOptions {
  /** Order data rows to write. A whole number ≥ 0. */
  readonly rows: number;
  /** Path of the orders CSV to write. */
  readonly out: string;
}

export interface GeneratedFile {
  /** Absolute path of the written file. */
  readonly path: string;
  /** Data rows (header excluded). */
  readonly rows: number;
  readonly bytes: number;
}

export interface GeneratedFiles {
  readonly seed: number;
  readonly customers: GeneratedFile;
  readonly orders?: GeneratedFile;
  readonly durationMs: number;
}

export const CUSTOMER_COLUMNS = ['customer_id', 'name', 'email', 'phone', 'country', 'status', 'signup_date', 'updated_at'] as const;
export const ORDER_COLUMNS = ['order_id', 'customer_id', 'order_date', 'amount'] as const;

export const DEFAULT_SEED = 42;

/** Writes the customers file (and, when asked, the orders file). See the module documentation for the mess. */
export async function generateMessyCustomers(options: MessyCustomersOptions): Promise<GeneratedFiles> {
  const rows = wholeNumber(options.rows, 'rows');
  const seed = wholeNumber(options.seed ?? DEFAULT_SEED, 'seed');
  const orderRows = options.orders ? wholeNumber(options.orders.rows, 'orders.rows') : 0;
  const started = Date.now();
  const warehouse = await DuckDBWarehouse.open({ path: ':memory:', ...(options.threads ? { threads: options.threads } : {}) });
  try {
    // Line order must be row order: the engine keeps insertion order when writing unless told otherwise.
    await warehouse.execute(`SET preserve_insertion_order = true`);
    const customers = await writeLines(warehouse, CUSTOMER_COLUMNS, customerLinesSql(rows, seed), options.out, rows);
    const orders = options.orders ? await writeLines(warehouse, ORDER_COLUMNS, orderLinesSql(orderRows, rows, seed), options.orders.out, orderRows) : undefined;
    return { seed, customers, ...(orders ? { orders } : {}), durationMs: Date.now() - started };
  } finally {
    await warehouse.close();
  }
}

function wholeNumber(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a whole number ≥ 0, got ${String(value)}`);
  return value;
}

async function writeLines(session: SqlSession, header: readonly string[], linesSql: string, out: string, rows: number): Promise<GeneratedFile> {
  const path = resolve(out);
  mkdirSync(dirname(path), { recursive: true });
  // One text column named after the header line; QUOTE '' turns the writer's quoting off, so each value is
  // written exactly as built (the lines carry their own CSV quoting) and the column name is the header line.
  await session.execute(
    `COPY (SELECT line AS ${quoteIdent(header.join(','))} FROM (${linesSql}) ORDER BY i) TO ${literal(path)} (FORMAT csv, HEADER true, QUOTE '', ESCAPE '', DELIMITER '|')`,
  );
  return { path, rows, bytes: statSync(path).size };
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;
const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`;
const list = (values: readonly string[]): string => `[${values.map(literal).join(', ')}]`;

// Value pools. Names include hyphens and apostrophes so title-casing has work to do; emails drop apostrophes.
const FIRST = ['john', 'mary-jane', 'ahmed', 'li', 'anna', 'sofia', 'carlos', 'olga', 'kwame', 'priya', 'lucas', 'emma', 'noah', 'chloe', 'mateo', 'aisha', 'yuki', 'omar', 'ingrid', 'pierre', 'fatima', 'diego', 'hannah', 'sean'];
// Surnames are built from a prefix, a stem and a suffix (thousands of them), so names, like emails and phones,
// have the high cardinality of real customer data rather than a handful of values the engine can compress away.
const SURNAME_PREFIXES = ['', '', '', '', '', '', '', "o'", "d'", 'van der ', 'mac', 'de '];
const SURNAME_STEMS = ['smith', 'neil', 'khan', 'wei', 'kowal', 'ross', 'ruiz', 'petr', 'mensah', 'sharm', 'martin', 'müller', 'nakamur', 'hadd', 'lars', 'dubois', 'garc', 'berg', 'angel', 'nguyen', 'silv', 'brown', 'jon', 'murph', 'anders', 'novak', 'okaf', 'fisch', 'kim', 'lop', 'ivan', 'tanak', 'cost', 'bauer', 'moreau', 'ström'];
const SURNAME_SUFFIXES = ['', '', '', 'son', 'ska', 'ez', 'ini', 'berg', 'ova', 'er', 'ley', 'ford', 'sen', 'ich', 'a', 'o', 'ovic', 'man', 'ton', 'well'];
const DOMAINS = ['example.com', 'Example.COM', 'mail.example.org', 'example.co.uk', 'EXAMPLE.NET', 'corp-example.io'];
const COUNTRIES = ['us', 'US', ' ie ', 'GB', 'gb', 'cn', 'PL', 'IT', 'es', 'DE', 'fr ', 'NL', 'in', 'BR', 'jp', ' ca'];
const STATUSES = ['active', 'Active', 'ACTIVE', ' active ', 'inactive', 'Inactive', 'suspended', ' Suspended ', 'pending', 'Pending ', 'PENDING'];
const BAD_STATUSES = ['unknown', 'deleted', 'actve', 'n/a'];

/**
 * SELECT i, line — one customers CSV line per row i of range(rows). `r(k)` is the k-th pseudo-random number of
 * the row, a 64-bit value; `r(k) % 100 < p` holds for about p% of rows. DuckDB's multi-argument hash only XORs
 * the last argument's hash in, so hash(i, seed, 1) and hash(i, seed, 2) share their low bits up to a constant;
 * hashing that again mixes all bits and makes the k-th numbers independent of each other.
 */
function customerLinesSql(rows: number, seed: number): string {
  const r = (k: number): string => `hash(hash(i, ${seed}, ${k}))`;
  const pick = (values: readonly string[], k: number): string => `${list(values)}[1 + (${r(k)} % ${values.length})::INTEGER]`;
  return `
WITH base AS (
  SELECT i,
    -- ~5% of rows repeat an earlier row's customer_id (a later or earlier version of that customer)
    CASE WHEN i > 0 AND ${r(1)} % 100 < 5 THEN 1 + ${r(2)} % i ELSE i + 1 END AS id,
    ${pick(FIRST, 3)} AS fname, ${pick(SURNAME_PREFIXES, 4)} || ${pick(SURNAME_STEMS, 20)} || ${pick(SURNAME_SUFFIXES, 21)} AS lname,
    ${r(5)} % 1000 AS name_roll, ${r(6)} % 1000 AS email_roll, ${r(7)} % 1000 AS id_roll,
    ${r(8)} % 1000 AS status_roll, ${r(9)} % 1000 AS date_roll, ${r(10)} % 4 AS phone_kind,
    lpad((${r(11)} % 10000000)::VARCHAR, 7, '0') AS digits,
    ${pick(DOMAINS, 12)} AS domain, ${pick(COUNTRIES, 13)} AS country, ${pick(STATUSES, 14)} AS status,
    ${pick(BAD_STATUSES, 15)} AS bad_status,
    DATE '2015-01-01' + (${r(16)} % 3650)::INTEGER AS signup,
    TIMESTAMP '2024-01-01 00:00:00' + to_seconds((${r(17)} % 31536000)::BIGINT) AS updated,
    ${r(18)} % 6 AS bad_kind, ${r(19)} % 4 AS case_kind
  FROM range(${rows}) t(i)
), fields AS (
  SELECT i,
    CASE
      WHEN id_roll < 10 THEN [ '', 'N/A', '-' || id, '0', id || '.5', 'abc' ][1 + bad_kind::INTEGER]
      WHEN id_roll < 40 THEN ' ' || id || ' '
      ELSE id::VARCHAR
    END AS customer_id,
    CASE case_kind WHEN 0 THEN fname || ' ' || lname WHEN 1 THEN upper(fname) || ' ' || upper(lname)
      WHEN 2 THEN '  ' || fname || '   ' || upper(lname) || ' ' ELSE upper(fname[1]) || fname[2:] || '  ' || lname END AS plain_name,
    strip_accents(replace(fname, '''', '') || '.' || replace(replace(lname, '''', ''), ' ', '')) AS local_part,
    *
  FROM base
)
SELECT i, concat_ws(',',
  customer_id,
  CASE
    WHEN name_roll < 20 THEN '"' || lname || ', ' || fname || '"'
    WHEN name_roll < 30 THEN '"' || plain_name || '"'
    ELSE plain_name
  END,
  CASE
    WHEN email_roll < 20 THEN [ local_part || ' at ' || domain, local_part || '@example', '', local_part || '@@' || domain,
                                 local_part || '@' || domain || '.', 'mailto:' || local_part ][1 + bad_kind::INTEGER]
    WHEN email_roll < 120 THEN upper(local_part) || '@' || domain || ' '
    ELSE local_part || id || '@' || domain
  END,
  CASE phone_kind
    WHEN 0 THEN '+1 (555) ' || digits[1:3] || '-' || digits[4:]
    WHEN 1 THEN '555.' || digits[1:3] || '.' || digits[4:]
    WHEN 2 THEN CASE WHEN email_roll % 10 = 0 THEN '' ELSE '020 ' || digits[1:3] || ' ' || digits[4:] END
    ELSE '+44 20 ' || digits[1:3] || ' ' || digits[4:]
  END,
  country,
  CASE WHEN status_roll < 10 THEN bad_status ELSE status END,
  CASE
    WHEN date_roll < 10 THEN [ '2023-13-45', 'not a date', '31/02/2023', 'yesterday', '2023/01/15', '15-01-2023' ][1 + bad_kind::INTEGER]
    WHEN date_roll < 400 THEN strftime(signup, '%d/%m/%Y')
    WHEN date_roll < 430 THEN ' ' || strftime(signup, '%Y-%m-%d') || ' '
    ELSE strftime(signup, '%Y-%m-%d')
  END,
  CASE WHEN date_roll % 3 = 0 THEN strftime(updated, '%Y-%m-%dT%H:%M:%S') ELSE strftime(updated, '%Y-%m-%d %H:%M:%S') END
) AS line
FROM fields`;
}

/**
 * SELECT i, line — one orders CSV line per row. Customer ids are drawn from 1..customerRows (so most refer to a
 * generated customer); ~2% point past them (unknown_customer) and ~1% are incomplete or negative (invalid_order).
 */
function orderLinesSql(rows: number, customerRows: number, seed: number): string {
  const r = (k: number): string => `hash(hash(i, ${seed}, ${1000 + k}))`;
  const customers = Math.max(customerRows, 1);
  return `
WITH base AS (
  SELECT i,
    -- ~0.5% of rows repeat an earlier order_id (the later row wins)
    CASE WHEN i > 0 AND ${r(1)} % 1000 < 5 THEN 1 + ${r(2)} % i ELSE i + 1 END AS order_id,
    1 + ${r(3)} % ${customers} AS customer, ${r(4)} % 1000 AS roll, ${r(5)} % 4 AS bad_kind,
    DATE '2023-01-01' + (${r(6)} % 730)::INTEGER AS ordered, ${r(7)} % 250000 AS cents, ${r(8)} % 10 AS fmt
  FROM range(${rows}) t(i)
)
SELECT i, concat_ws(',',
  CASE WHEN fmt = 0 THEN ' ' || order_id || ' ' ELSE order_id::VARCHAR END,
  CASE
    WHEN roll < 20 THEN (${customers} + 1 + customer)::VARCHAR
    WHEN roll < 23 THEN ''
    ELSE customer::VARCHAR
  END,
  CASE
    WHEN roll BETWEEN 23 AND 25 THEN [ 'not a date', '2024-02-30', '', '13/13/2023' ][1 + bad_kind::INTEGER]
    WHEN fmt < 4 THEN strftime(ordered, '%d/%m/%Y')
    ELSE strftime(ordered, '%Y-%m-%d')
  END,
  CASE
    WHEN roll BETWEEN 26 AND 29 THEN [ '-' || (cents // 100) || '.00', 'n/a', '1 200.00', '' ][1 + bad_kind::INTEGER]
    ELSE (cents // 100) || '.' || lpad((cents % 100)::VARCHAR, 2, '0')
  END
) AS line
FROM base`;
}
