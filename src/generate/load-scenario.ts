import { createReadStream, createWriteStream, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DuckDBWarehouse } from '../warehouse/duckdb/duckdb-warehouse.js';
import { CUSTOMER_COLUMNS, DEFAULT_SEED, generateMessyCustomers } from './messy-customers.js';

/**
 * The course's session-2 scenario as files: "Yesterday's data: 1 million customers. Today's changes: 1,000 status
 * updates." Day 1 is a messy full extract (customers and orders); day 2 exists twice — as a change file holding
 * only the K updated customers, and as the full extract of day 2 (day 1 plus those changes) — so a full reload and
 * an incremental load of the same day can be run side by side and must give the same silver and gold.
 */
export interface LoadScenarioOptions {
  readonly rows: number;
  readonly changes: number;
  readonly out: string;
  readonly seed?: number;
  readonly threads?: number;
}

export interface LoadScenario {
  readonly dir: string;
  readonly day1: { readonly customers: string; readonly orders: string };
  readonly day2Changes: string;
  readonly day2Full: { readonly customers: string; readonly orders: string };
  readonly rows: number;
  readonly changes: number;
  readonly bytes: { readonly day1: number; readonly day2Changes: number; readonly day2Full: number };
}

const STATUSES = ['active', 'inactive', 'suspended', 'pending'];

export async function generateLoadScenario(options: LoadScenarioOptions): Promise<LoadScenario> {
  const dir = resolve(options.out);
  const seed = options.seed ?? DEFAULT_SEED;
  const changes = Math.min(options.changes, options.rows);
  const day1 = { customers: join(dir, 'day1', 'customers.csv'), orders: join(dir, 'day1', 'orders.csv') };
  await generateMessyCustomers({ rows: options.rows, seed, out: day1.customers, orders: { rows: Math.floor(options.rows / 2), out: day1.orders }, ...(options.threads ? { threads: options.threads } : {}) });
  const day2Changes = join(dir, 'day2-changes', 'customers_changes.csv');
  mkdirSync(join(dir, 'day2-changes'), { recursive: true });
  const warehouse = await DuckDBWarehouse.open({ path: ':memory:' });
  try {
    // K distinct customers: a stride coprime with the row count walks the ids without repeating one. Each gets a
    // new status, stamped later than anything on day 1 (whose updated_at values all fall in 2024).
    const stride = coprimeStride(options.rows);
    await warehouse.execute(
      `COPY (
         SELECT 1 + ((j * ${stride}) % ${Math.max(options.rows, 1)}) AS customer_id,
                'Customer ' || (1 + ((j * ${stride}) % ${Math.max(options.rows, 1)})) AS name,
                'customer' || (1 + ((j * ${stride}) % ${Math.max(options.rows, 1)})) || '@example.com' AS email,
                '' AS phone, 'US' AS country,
                ${`[${STATUSES.map((s) => `'${s}'`).join(', ')}]`}[1 + (hash(j, ${seed}, 77) % 4)::INTEGER] AS status,
                '2020-01-01' AS signup_date,
                strftime(TIMESTAMP '2025-01-02 08:00:00' + to_seconds(j::BIGINT), '%Y-%m-%d %H:%M:%S') AS updated_at
         FROM range(${changes}) t(j) ORDER BY j
       ) TO '${day2Changes.replaceAll("'", "''")}' (FORMAT csv, HEADER true)`,
    );
  } finally {
    await warehouse.close();
  }
  // Day 2's full extract: everything from day 1, with the day-2 changes at the end (the latest updated_at wins).
  const day2Full = { customers: join(dir, 'day2-full', 'customers.csv'), orders: join(dir, 'day2-full', 'orders.csv') };
  mkdirSync(join(dir, 'day2-full'), { recursive: true });
  await concatenate([day1.customers, day2Changes], day2Full.customers, CUSTOMER_COLUMNS.join(','));
  await pipeline(createReadStream(day1.orders), createWriteStream(day2Full.orders));
  const size = (p: string): number => statSync(p).size;
  return {
    dir,
    day1,
    day2Changes,
    day2Full,
    rows: options.rows,
    changes,
    bytes: { day1: size(day1.customers) + size(day1.orders), day2Changes: size(day2Changes), day2Full: size(day2Full.customers) + size(day2Full.orders) },
  };
}

/** Appends CSV files that share a header, keeping the first header only. */
async function concatenate(inputs: readonly string[], output: string, header: string): Promise<void> {
  const out = createWriteStream(output);
  for (const [i, input] of inputs.entries()) {
    let skipped = i === 0;
    let carry = '';
    for await (const chunk of createReadStream(input, { encoding: 'utf8' })) {
      let text = chunk as string;
      if (!skipped) {
        carry += text;
        const nl = carry.indexOf('\n');
        if (nl < 0) continue;
        if (carry.slice(0, nl).replace('\r', '') !== header) throw new Error(`${input} does not start with the header ${header}`);
        text = carry.slice(nl + 1);
        skipped = true;
      }
      if (!out.write(text)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
  }
  await new Promise<void>((resolveEnd, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolveEnd())));
}

function coprimeStride(n: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let stride = 7919;
  while (n > 1 && gcd(stride, n) !== 1) stride += 2;
  return stride;
}
