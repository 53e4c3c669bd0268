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

  it('plan counts a file as changed when only its parse settings changed, as the run then does', () => {
    const lab = join(root, 'settings');
    refinery(['init', 'settings'], { cwd: root });
    expect(refinery(['run'], { cwd: lab }).code).toBe(0);
    const config = join(lab, 'refinery.config.ts');
    writeFileSync(config, readFileSync(config, 'utf8').replace("path: 'landing/orders/*.csv',", "path: 'landing/orders/*.csv', csv: { encoding: 'latin-1' },"));
    const plan = refinery(['plan', '--json'], { cwd: lab });
    expect(plan.code).toBe(0);
    const sources = JSON.parse(plan.stdout) as { source: string; files: { path: string; status: string }[] }[];
    expect(sources.find((s) => s.source === 'orders')?.files.map((f) => f.status)).toEqual(['changed']);
    expect(sources.find((s) => s.source === 'customers')?.files.every((f) => f.status === 'unchanged')).toBe(true);
    const run = refinery(['run', '--json'], { cwd: lab });
    const orders = (JSON.parse(run.stdout) as { steps: { name: string; files: { outcome: string }[] }[] }).steps.find((s) => s.name === 'bronze.orders');
    expect(orders?.files.map((f) => f.outcome)).toEqual(['changed']);
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

  it('check-incremental says which tables wait for a build after run --select, instead of calling them different', () => {
    const lab = join(root, 'partial');
    refinery(['init', 'partial'], { cwd: root });
    expect(refinery(['run'], { cwd: lab }).code).toBe(0);
    writeFileSync(join(lab, 'landing', 'customers', 'day2.csv'), `${HEADER}\n1002,Mary Jane,mary@x.com,,IE,active,,2025-01-01 00:00:00\n`);
    // Only bronze and silver.customers: silver.orders (which checks its customers) and gold.customer_360 are behind.
    expect(refinery(['run', '--select', '+silver.customers'], { cwd: lab }).code).toBe(0);
    const partial = refinery(['check-incremental', '--json'], { cwd: lab });
    expect(partial.code).toBe(1);
    const report = JSON.parse(partial.stdout) as { identical: boolean; waiting: { step: string; message: string }[]; tables: { table: string; identical: boolean; waiting?: string }[] };
    expect(report.identical).toBe(true);
    expect(report.waiting.map((w) => w.message)).toEqual([
      'silver.orders has not been built since silver.customers changed (run without --select, or --select silver.customers+)',
      'gold.customer_360 has not been built since silver.customers changed (run without --select, or --select silver.customers+)',
    ]);
    expect(report.tables.filter((t) => t.waiting).map((t) => t.table).sort()).toEqual(['gold.customer_360', 'quarantine.orders', 'silver.orders']);
    const text = refinery(['check-incremental'], { cwd: lab });
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('gold.customer_360 has not been built since silver.customers changed (run without --select, or --select silver.customers+).');
    expect(text.stdout).not.toMatch(/\bNO\b|differ/);

    // Bronze ahead of silver: silver waits for its new batches, and everything downstream waits for silver.
    writeFileSync(join(lab, 'landing', 'customers', 'day3.csv'), `${HEADER}\n1004,Li Wei,li@x.com,,CN,active,,2025-01-02 00:00:00\n`);
    expect(refinery(['run', '--select', 'bronze.customers', 'silver.orders', 'gold.customer_360'], { cwd: lab }).code).toBe(0);
    const behind = JSON.parse(refinery(['check-incremental', '--json'], { cwd: lab }).stdout) as { waiting: { message: string }[] };
    expect(behind.waiting.map((w) => w.message)).toEqual([
      'silver.customers has not been built since bronze.customers received new batches (run without --select, or --select silver.customers+)',
      'silver.orders waits for silver.customers, which has not been built since bronze.customers received new batches (run without --select, or --select silver.customers+)',
      'gold.customer_360 waits for silver.customers, which has not been built since bronze.customers received new batches (run without --select, or --select silver.customers+)',
    ]);

    // The suggested run catches up; then the check passes.
    expect(refinery(['run', '--select', 'silver.customers+'], { cwd: lab }).code).toBe(0);
    const caughtUp = refinery(['check-incremental', '--json'], { cwd: lab });
    expect(caughtUp.code).toBe(0);
    expect(JSON.parse(caughtUp.stdout)).toMatchObject({ identical: true, waiting: [] });
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
    // Without --json, progress counts its stages against the real total.
    const progress = refinery(['compare-loads', '--rows', '200', '--changes', '5'], { cwd: root });
    expect(progress.code).toBe(0);
    expect(progress.stderr.split('\n').filter((l) => l.startsWith('[')).map((l) => l.slice(0, 5))).toEqual(['[1/5]', '[2/5]', '[3/5]', '[4/5]', '[5/5]']);
    // Counts read as counts: thousands separated, right-aligned under their headers.
    expect(progress.stdout).toMatch(/^full reload +\d+(\.\d)? m?s +\d+ +\d+ +\d{1,3}(,\d{3})+$/m);
    const [header, , full] = progress.stdout.split('\n').filter((l) => l.includes('wall time') || l.startsWith('───') || l.startsWith('full reload'));
    expect(full?.length).toBe(header?.length);
  });
});
