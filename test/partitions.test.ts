import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runPipeline } from '../src/orchestrator/run-pipeline.js';
import { TestClock } from '../src/orchestrator/clock.js';
import { ENGINES } from './helpers/engines.js';
import { projectFile } from './helpers/project-files.js';
import { TestProject } from './helpers/temp-project.js';

/**
 * Partitioned layers: a partitioned gold model recomputes only the partitions its inputs touched (insert_overwrite),
 * and published tables rewrite only the Parquet partitions whose rows changed — proven by the files' modification
 * times and inodes, and by reading the partitions back.
 */
const MONTH = "strftime(order_date, '%Y-%m')";

function ordersProject(): string {
  return projectFile({
    name: 'shop',
    sources: { orders: { path: 'landing/orders/*.csv', publish: { format: 'parquet', path: 'lake/bronze/orders' } } },
    silver: {
      orders: {
        columns: { order_id: { type: 'integer' }, country: {}, order_date: { type: 'date' }, amount: { type: 'double' } },
        key: 'order_id',
        partitionBy: { order_month: MONTH },
        publish: { format: 'parquet', path: 'lake/silver/orders' },
      },
    },
    gold: {
      daily_sales: {
        sql: 'SELECT order_date, country, count(*) AS orders, sum(amount) AS revenue FROM silver.orders GROUP BY order_date, country',
        partitionBy: { order_month: MONTH },
        publish: { format: 'parquet', path: 'lake/gold/daily_sales', partitionBy: ['country'] },
      },
    },
  });
}

const HEADER = 'order_id,country,order_date,amount';

/** Every data file under a published directory, with its modification time and inode. */
function files(dir: string): Map<string, { mtime: number; ino: number }> {
  const out = new Map<string, { mtime: number; ino: number }>();
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else {
        const stat = statSync(join(dir, path));
        out.set(path, { mtime: stat.mtimeMs, ino: stat.ino });
      }
    }
  };
  if (existsSync(dir)) walk('');
  return out;
}

describe.each(ENGINES)('partitions on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  const step = (report: Awaited<ReturnType<TestProject['run']>>, name: string) => report.steps.find((s) => s.step === name);
  const published = async (path: string, by: string): Promise<Record<string, unknown>[]> =>
    project.rows(`SELECT CAST(${by} AS VARCHAR) AS p, count(*) AS n FROM read_parquet('${join(project.dir, path)}/**/*.parquet', hive_partitioning = true) GROUP BY 1 ORDER BY 1`);

  it('recomputes and republishes only the partitions a run touched, and removes partitions that became empty', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': ordersProject(),
      'landing/orders/day1.csv': [HEADER, '1,DE,2024-01-10,10', '2,FR,2024-02-05,20', '3,DE,2024-02-06,30', '4,FR,2024-03-01,40'].join('\n') + '\n',
    });
    const first = await project.run();
    expect(first.status).toBe('success');
    expect(step(first, 'silver.orders')?.partitions?.published).toEqual({
      path: 'lake/silver/orders',
      rewritten: ['order_month=2024-01', 'order_month=2024-02', 'order_month=2024-03'],
      removed: [],
      unchanged: 0,
    });
    expect(await published('lake/silver/orders', 'order_month')).toEqual([
      { p: '2024-01', n: 1 },
      { p: '2024-02', n: 2 },
      { p: '2024-03', n: 1 },
    ]);
    const silverBefore = files(join(project.dir, 'lake/silver/orders'));
    const goldBefore = files(join(project.dir, 'lake/gold/daily_sales'));
    expect([...silverBefore.keys()].sort()).toEqual(['order_month=2024-01/data_0.parquet', 'order_month=2024-02/data_0.parquet', 'order_month=2024-03/data_0.parquet']);
    expect([...goldBefore.keys()].sort()).toEqual(['country=DE/data_0.parquet', 'country=FR/data_0.parquet']);
    await new Promise((r) => setTimeout(r, 50));

    // A new March order: March alone is recomputed in gold and republished in silver; gold's FR partition too.
    project.write('landing/orders/day2.csv', [HEADER, '5,FR,2024-03-20,50'].join('\n') + '\n');
    const second = await project.run();
    expect(second.status).toBe('success');
    expect(step(second, 'gold.daily_sales')?.partitions?.recomputed).toEqual(['order_month=2024-03']);
    expect(step(second, 'gold.daily_sales')?.message).toMatch(/^recomputed 1 partition \(order_month=2024-03\): 1 row replaced, 2 written/);
    expect(step(second, 'silver.orders')?.partitions?.published).toEqual({ path: 'lake/silver/orders', rewritten: ['order_month=2024-03'], removed: [], unchanged: 2 });
    expect(step(second, 'gold.daily_sales')?.partitions?.published).toMatchObject({ rewritten: ['country=FR'], unchanged: 1 });
    const silverAfter = files(join(project.dir, 'lake/silver/orders'));
    for (const month of ['2024-01', '2024-02']) expect(silverAfter.get(`order_month=${month}/data_0.parquet`), month).toEqual(silverBefore.get(`order_month=${month}/data_0.parquet`));
    expect(silverAfter.get('order_month=2024-03/data_0.parquet')?.mtime).toBeGreaterThan(silverBefore.get('order_month=2024-03/data_0.parquet')?.mtime ?? Infinity);
    expect(files(join(project.dir, 'lake/gold/daily_sales')).get('country=DE/data_0.parquet')).toEqual(goldBefore.get('country=DE/data_0.parquet'));
    expect(await published('lake/silver/orders', 'order_month')).toEqual([
      { p: '2024-01', n: 1 },
      { p: '2024-02', n: 2 },
      { p: '2024-03', n: 2 },
    ]);

    // Order 1 moves from January to February: both months recomputed, January's directory removed.
    project.write('landing/orders/day3.csv', [HEADER, '1,DE,2024-02-11,15'].join('\n') + '\n');
    const third = await project.run();
    expect(step(third, 'gold.daily_sales')?.partitions?.recomputed).toEqual(['order_month=2024-01', 'order_month=2024-02']);
    expect(step(third, 'silver.orders')?.partitions?.published).toEqual({ path: 'lake/silver/orders', rewritten: ['order_month=2024-02'], removed: ['order_month=2024-01'], unchanged: 1 });
    expect(existsSync(join(project.dir, 'lake/silver/orders/order_month=2024-01'))).toBe(false);
    expect(await published('lake/silver/orders', 'order_month')).toEqual([
      { p: '2024-02', n: 3 },
      { p: '2024-03', n: 2 },
    ]);

    // Nothing new: nothing recomputed, nothing republished.
    const quiet = files(join(project.dir, 'lake/silver/orders'));
    const fourth = await project.run();
    expect(step(fourth, 'silver.orders')?.partitions).toBeUndefined();
    expect(files(join(project.dir, 'lake/silver/orders'))).toEqual(quiet);

    // The partition-by-partition gold equals a rebuild, and the published gold equals the table.
    const sql = `SELECT CAST(order_date AS VARCHAR) AS d, country, orders, revenue FROM gold.daily_sales ORDER BY 1, 2`;
    const incremental = await project.rows(sql);
    expect(incremental).toHaveLength(5);
    await project.run({ fullRefresh: true });
    expect(await project.rows(sql)).toEqual(incremental);
    expect(await project.rows(`SELECT CAST(order_date AS VARCHAR) AS d, country, orders, revenue FROM read_parquet('${join(project.dir, 'lake/gold/daily_sales')}/**/*.parquet', hive_partitioning = true) ORDER BY 1, 2`)).toEqual(incremental);
  });

  it('publishes by several levels, NULL values included, and rewrites only the leaf directories that changed', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({
        name: 'shop',
        sources: { orders: { path: 'landing/orders/*.csv' } },
        silver: {
          orders: {
            columns: { order_id: { type: 'integer' }, country: {}, order_date: { type: 'date' }, amount: { type: 'double' } },
            key: 'order_id',
            publish: { format: 'parquet', path: 'lake/orders', partitionBy: { country: 'country', year: 'year(order_date)' } },
          },
        },
      }),
      'landing/orders/day1.csv': [HEADER, '1,DE,2023-01-10,10', '2,,2024-02-05,20', '3,a/b,2024-02-06,30'].join('\n') + '\n',
    });
    // 'country' is the column itself; 'year' an expression.
    const first = await project.run();
    expect(first.status, JSON.stringify(first.steps.map((s) => s.message))).toBe('success');
    expect(first.steps.find((s) => s.step === 'silver.orders')?.partitions?.published?.rewritten).toEqual([
      'country=DE/year=2023',
      'country=__HIVE_DEFAULT_PARTITION__/year=2024',
      'country=a%2Fb/year=2024',
    ]);
    const before = files(join(project.dir, 'lake/orders'));
    await new Promise((r) => setTimeout(r, 50));
    project.write('landing/orders/day2.csv', [HEADER, '4,,2024-03-01,5'].join('\n') + '\n');
    const second = await project.run();
    expect(second.steps.find((s) => s.step === 'silver.orders')?.partitions?.published).toMatchObject({ rewritten: ['country=__HIVE_DEFAULT_PARTITION__/year=2024'], unchanged: 2 });
    const after = files(join(project.dir, 'lake/orders'));
    expect(after.get('country=DE/year=2023/data_0.parquet')).toEqual(before.get('country=DE/year=2023/data_0.parquet'));
    expect(after.get('country=a%2Fb/year=2024/data_0.parquet')).toEqual(before.get('country=a%2Fb/year=2024/data_0.parquet'));
    expect(await project.rows(`SELECT country, CAST(year AS VARCHAR) AS year, count(*) AS n FROM read_parquet('${join(project.dir, 'lake/orders')}/**/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY ALL`)).toEqual([
      { country: 'DE', year: '2023', n: 1 },
      { country: 'a/b', year: '2024', n: 1 },
      { country: null, year: '2024', n: 2 },
    ]);
  });

  it('publishes bronze by ingestion date: a later day adds its own partition and leaves earlier days alone', async () => {
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': ordersProject(), 'landing/orders/day1.csv': [HEADER, '1,DE,2024-01-10,10'].join('\n') + '\n' });
    const { plan, warehouse } = await project.open();
    const clock = new TestClock('2024-05-01T09:00:00Z');
    await runPipeline(plan, warehouse, { clock, listener: false });
    const before = files(join(project.dir, 'lake/bronze/orders'));
    expect([...before.keys()]).toEqual(['_ingest_date=2024-05-01/data_0.parquet']);
    await clock.tick(24 * 3600 * 1000);
    project.write('landing/orders/day2.csv', [HEADER, '2,FR,2024-01-11,20', '3,FR,2024-01-12,30'].join('\n') + '\n');
    const report = await runPipeline(plan, warehouse, { clock, listener: false });
    expect(report.steps.find((s) => s.step === 'bronze.orders')?.partitions?.published).toEqual({ path: 'lake/bronze/orders', rewritten: ['_ingest_date=2024-05-02'], removed: [], unchanged: 1 });
    const after = files(join(project.dir, 'lake/bronze/orders'));
    expect(after.get('_ingest_date=2024-05-01/data_0.parquet')).toEqual(before.get('_ingest_date=2024-05-01/data_0.parquet'));
    expect(await published('lake/bronze/orders', '_ingest_date')).toEqual([
      { p: '2024-05-01', n: 1 },
      { p: '2024-05-02', n: 2 },
    ]);
  });
});
