import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import { TestProject } from './helpers/temp-project.js';

/** The customers template plus tasks, as a learner would declare "customers before orders, with a flaky API". */
function withTasks(project: TestProject, tasks: string, extra = ''): void {
  const config = readFileSync(`${project.dir}/refinery.config.ts`, 'utf8');
  project.write(
    'refinery.config.ts',
    config
      .replace("import { defineProject } from 'refinery';", "import { defineProject, task, FatalError } from 'refinery';\nconst state = { calls: 0 };")
      .replace("  name: 'customers',", `  name: 'customers',\n  concurrency: 4,\n  pools: { api: 1 },\n${extra}\n  tasks: {${tasks}},`),
  );
}

describe.each(ENGINES)('orchestration on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  it('retries a flaky task until it succeeds and records every failed attempt', async () => {
    project = TestProject.fromTemplate(engine);
    withTasks(
      project,
      `
      'fetch-rates': task({
        after: ['silver.customers'],
        retry: { attempts: 3, delay: 10, backoff: 'exponential' },
        pool: 'api',
        run: async ({ attempt, warehouse, logger }) => {
          if (attempt < 3) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
          const { rows } = await warehouse.query('SELECT count(*) AS n FROM silver.customers');
          logger.info('customers: ' + rows[0].n);
          return 'rates loaded for ' + rows[0].n + ' customers';
        },
      }),
      'on-failure': task({ after: ['fetch-rates'], trigger: 'one_failed', run: () => 'paged the team' }),`,
    );
    const report = await project.run();
    expect(report.status).toBe('success');
    const step = report.steps.find((s) => s.step === 'fetch-rates');
    expect(step).toMatchObject({ status: 'success', attempts: 3, message: 'rates loaded for 4 customers' });
    expect(await project.rows(`SELECT attempt, status, retryable, error FROM refinery.attempts ORDER BY attempt`)).toEqual([
      { attempt: 1, status: 'failed', retryable: true, error: 'fetch-rates: socket hang up' },
      { attempt: 2, status: 'failed', retryable: true, error: 'fetch-rates: socket hang up' },
    ]);
    expect(await project.rows(`SELECT status, attempts FROM refinery.steps WHERE step = 'fetch-rates'`)).toEqual([{ status: 'success', attempts: 3 }]);
    // A step its trigger rule skipped never ran, yet the run's record says what happened to it, and why.
    expect(await project.rows(`SELECT status, message FROM refinery.steps WHERE step = 'on-failure'`)).toEqual([{ status: 'skipped', message: 'trigger one_failed: no upstream step failed' }]);
  });

  it('does not retry a fatal failure; its dependents end upstream_failed; a one_failed task runs; independent steps finish', async () => {
    project = TestProject.fromTemplate(engine);
    withTasks(
      project,
      `
      'customer-api': task({ retry: { attempts: 5, delay: 10 }, run: () => { throw new FatalError('401 Unauthorized: the token is wrong'); } }),
      'enrich': task({ after: ['customer-api'], run: () => 'enriched' }),
      'publish': task({ after: ['enrich', 'gold.customer_360'], run: () => 'published' }),
      'notify': task({ after: ['customer-api', 'enrich'], trigger: 'one_failed', run: () => 'notified the team' }),
      'cleanup': task({ after: ['publish'], trigger: 'all_done', run: () => 'cleaned' }),`,
    );
    const report = await project.run();
    expect(report.status).toBe('failed');
    const status = Object.fromEntries(report.steps.map((s) => [s.step, s.status]));
    expect(status).toMatchObject({ 'customer-api': 'failed', enrich: 'upstream_failed', publish: 'upstream_failed', notify: 'success', cleanup: 'success', 'gold.customer_360': 'success' });
    expect(report.steps.find((s) => s.step === 'customer-api')).toMatchObject({ attempts: 1, message: 'customer-api: 401 Unauthorized: the token is wrong' });
    expect(report.steps.find((s) => s.step === 'publish')?.message).toBe('not run: enrich failed');
  });

  it('fails a step that runs past its timeout through its abort signal', async () => {
    project = TestProject.fromTemplate(engine);
    withTasks(project, `'slow': task({ timeout: 50, run: ({ signal }) => new Promise((resolve, reject) => { const t = setTimeout(resolve, 5000); signal.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }); }) }),`);
    const started = Date.now();
    const report = await project.run();
    expect(Date.now() - started).toBeLessThan(4000);
    expect(report.steps.find((s) => s.step === 'slow')).toMatchObject({ status: 'failed', message: 'slow timed out after 50 ms' });
  });

  it('runs only the selected steps: a step with everything upstream, or everything downstream', async () => {
    project = TestProject.fromTemplate(engine);
    const upstream = await project.run({ select: ['+silver.orders'] });
    expect(upstream.steps.map((s) => s.step)).toEqual(['bronze.customers', 'bronze.orders', 'silver.customers', 'silver.orders']);
    const downstream = await project.run({ select: ['silver.customers+'] });
    expect(downstream.steps.map((s) => s.step)).toEqual(['silver.customers', 'silver.orders', 'gold.customer_360']);
    const layer = await project.run({ select: ['layer:bronze'] });
    expect(layer.steps.map((s) => s.step)).toEqual(['bronze.customers', 'bronze.orders']);
  });

  it('builds independent tables in parallel without losing or mixing their state', async () => {
    project = TestProject.fromTemplate(engine);
    withTasks(project, `'a': task({ run: () => 'a' }), 'b': task({ run: () => 'b' }), 'c': task({ after: ['a', 'b'], run: () => 'c' }),`);
    const first = await project.run();
    expect(first.status).toBe('success');
    const second = await project.run({ fullRefresh: true });
    expect(second.status).toBe('success');
    expect((await project.audit()).balanced).toBe(true);
    expect(await project.rows(`SELECT count(*) AS n FROM gold.customer_360`)).toEqual([{ n: 4 }]);
  });

  it('names a dependency cycle through after', async () => {
    project = TestProject.fromTemplate(engine);
    withTasks(project, `'x': task({ after: ['y'], run: () => 1 }), 'y': task({ after: ['x'], run: () => 1 }),`);
    await expect(project.open()).rejects.toThrow(/x → y → x/);
  });
});
