import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import { refinery } from './helpers/cli.js';
import { tempDir } from './helpers/temp-project.js';

const HEADER = 'customer_id,name,email,phone,country,status,signup_date,updated_at';

/** plan, check-incremental, generate and compare-loads, driven as a user would. */
describe('incremental-load commands', () => {
  let root: string;
  let dir: string;
  beforeAll(() => {
    root = tempDir('refinery-inc-');
    dir = join(root, 'lab');
    refinery(['init', 'lab'], { cwd: root });
    expect(refinery(['run'], { cwd: dir }).code).toBe(0);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('plan says what the next run will read and roughly what it changes, and changes nothing', () => {
    writeFileSync(join(dir, 'landing', 'customers', 'day2.csv'), `${HEADER}\n1001,John Smith,john@x.com,,US,inactive,,2025-01-01 00:00:00\n9001,New One,new@x.com,,US,active,,2025-01-01 00:00:00\n9002,Bad,not-an-email,,US,active,,2025-01-01 00:00:00\n`);
    const result = refinery(['plan', '--json'], { cwd: dir });
    expect(result.code).toBe(0);
    const [customers, orders] = JSON.parse(result.stdout) as { source: string; reads: string; silver: unknown[] }[];
    expect(customers).toMatchObject({ source: 'customers', silver: [{ table: 'silver.customers', inserts: 1, updates: 1, quarantined: 1 }] });
    expect(orders?.reads).toBe('nothing: no new or changed files');
    const bronze = JSON.parse(refinery(['query', 'SELECT count(*) AS n FROM bronze.customers', '--json'], { cwd: dir }).stdout) as { n: number }[];
    expect(bronze[0]?.n).toBe(8);
  });

  it('check-incremental passes on a healthy warehouse and fails when a table drifted from its bronze', async () => {
    expect(refinery(['run'], { cwd: dir }).code).toBe(0);
    const ok = refinery(['check-incremental', '--json'], { cwd: dir });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ identical: true });
    // Tamper with silver behind Refinery's back: the rebuild from bronze no longer matches.
    const db = await DuckDBInstance.create(join(dir, '.refinery', 'warehouse.duckdb'));
    const c = await db.connect();
    await c.run(`UPDATE silver.customers SET status = 'tampered' WHERE customer_id = 1004`);
    c.closeSync();
    db.closeSync();
    const bad = refinery(['check-incremental', '--json'], { cwd: dir });
    expect(bad.code).toBe(1);
    expect((JSON.parse(bad.stdout) as { tables: { table: string; identical: boolean }[] }).tables.filter((t) => !t.identical).map((t) => t.table)).toEqual(['silver.customers']);
  });

  it('generate writes the same bytes for the same seed; compare-loads finds both loads identical', () => {
    for (const out of ['g1', 'g2']) expect(refinery(['generate', 'customers', '--rows', '500', '--changes', '20', '--out', out], { cwd: root }).code).toBe(0);
    for (const file of ['day1/customers.csv', 'day1/orders.csv', 'day2-changes/customers_changes.csv', 'day2-full/customers.csv']) {
      expect(readFileSync(join(root, 'g1', file)).equals(readFileSync(join(root, 'g2', file))), file).toBe(true);
    }
    const compare = refinery(['compare-loads', '--rows', '3000', '--changes', '50', '--json'], { cwd: root });
    expect(compare.code).toBe(0);
    const report = JSON.parse(compare.stdout) as { identical: boolean; full: { rowsRead: number }; incremental: { rowsRead: number }; tables: { identical: boolean }[] };
    expect(report.identical).toBe(true);
    expect(report.tables).toHaveLength(3);
    expect(report.incremental.rowsRead).toBe(50);
    expect(report.full.rowsRead).toBeGreaterThan(3000);
  });
});
