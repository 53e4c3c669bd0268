import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, refinery } from './helpers/cli.js';
import { tempDir } from './helpers/temp-project.js';

/** The CLI as a user drives it: the built bin, spawned in a temp directory outside the repository. */
describe('refinery CLI', () => {
  let root: string;
  let dir: string;
  beforeAll(() => {
    root = tempDir('refinery-cli-');
    dir = join(root, 'lab');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('answers --help and --version, and rejects unknown commands with exit 2', () => {
    const help = refinery(['--help'], { cwd: root });
    expect(help.code).toBe(0);
    for (const command of ['init', 'run', 'query', 'show', 'status', 'history', 'audit']) expect(help.stdout).toContain(command);
    expect(refinery(['--version'], { cwd: root }).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const unknown = refinery(['frobnicate'], { cwd: root });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
  });

  it('scaffolds, runs, queries and audits a project that has no node_modules of its own', () => {
    const init = refinery(['init', 'lab'], { cwd: root });
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('refinery.config.ts');

    const run = refinery(['run', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { runId: number; status: string; steps: { name: string; reads?: string; status: string; attempts: number; error: unknown }[] };
    expect(report.status).toBe('success');
    expect(report.steps.map((s) => [s.name, s.status, s.reads])).toEqual([
      ['bronze.customers', 'success', 'files'],
      ['bronze.orders', 'success', 'files'],
      ['silver.customers', 'success', undefined],
      ['silver.orders', 'success', undefined],
      ['gold.customer_360', 'success', undefined],
    ]);

    const query = refinery(['query', 'SELECT c.customer_id, c.signup_date, s.updated_at, c.total_spend FROM gold.customer_360 c JOIN silver.customers s USING (customer_id) ORDER BY 1 LIMIT 1', '--json'], { cwd: dir });
    expect(query.code).toBe(0);
    expect(JSON.parse(query.stdout)).toEqual([{ customer_id: 1001, signup_date: '2023-01-15', updated_at: '2024-01-10T09:00:00', total_spend: 1150.5 }]);

    const audit = refinery(['audit', '--json'], { cwd: dir });
    expect(audit.code).toBe(0);
    expect(JSON.parse(audit.stdout).tables['silver.customers']).toMatchObject({ bronze: 8, silver: 4, quarantined: 3, superseded: 1 });

    const show = refinery(['show', 'quarantine.customers', '--limit', '2'], { cwd: dir });
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('invalid_email');
    expect(show.stdout).toContain('2 of 3 rows in quarantine.customers');

    const human = refinery(['run'], { cwd: dir });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('up to date');
    expect(human.stdout.includes('\u001b[')).toBe(false); // NO_COLOR is honoured

    const history = refinery(['history', '--json', '--project', dir], { cwd: root });
    expect(JSON.parse(history.stdout).map((r: { runId: number }) => r.runId)).toEqual([2, 1]);
    expect(refinery(['status', '--json'], { cwd: dir }).stdout).toContain('"gold.customer_360"');
  });

  it('exits 2 with a located message on a config error, and 1 with the failing step on a pipeline failure', () => {
    const project = join(root, 'broken');
    refinery(['init', 'broken'], { cwd: root });
    const configPath = join(project, 'refinery.config.ts');
    const original = readFileSync(configPath, 'utf8');
    writeFileSync(configPath, original.replace("materialize: 'merge'", "materialize: 'upsert'"));
    const bad = refinery(['run'], { cwd: project });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/refinery\.config\.ts:\d+ silver\.customers\.materialize: 'upsert' is not allowed/);
    expect(bad.stderr).toContain("allowed: 'merge', 'replace'");
    expect(bad.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace

    writeFileSync(configPath, original.replace("rule: { in: ['active', 'inactive', 'suspended', 'pending'] }", "rule: { in: ['active'] }, action: 'fail'"));
    const failed = refinery(['run', '--json'], { cwd: project });
    expect(failed.code).toBe(1);
    const report = JSON.parse(failed.stdout) as { status: string; steps: { name: string; status: string; error: { code: string } | null }[] };
    expect(report.status).toBe('failed');
    expect(report.steps.find((s) => s.name === 'silver.customers')).toMatchObject({ status: 'failed', error: { code: 'check_failed' } });
    expect(report.steps.find((s) => s.name === 'gold.customer_360')?.status).toBe('upstream_failed');
    // Nothing half-written: the failed silver table was never created.
    const tables = refinery(['query', "SELECT table_name FROM information_schema.tables WHERE table_schema = 'silver' ORDER BY 1", '--json'], { cwd: project });
    expect(JSON.parse(tables.stdout)).toEqual([]);
  });

  it('runs the demo end to end and shows every layer, twice in a row', () => {
    const first = refinery(['demo', 'demo'], { cwd: root });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('Scaffolded the customers template');
    expect(first.stdout).toMatch(/silver\.customers\s+4/);
    expect(first.stdout).toContain('quarantine.customers: invalid_email 2, invalid_customer_id 1');
    expect(first.stdout).toMatch(/1001\s+John Smith/);
    expect(first.stdout).toContain('Try next');
    const second = refinery(['demo', 'demo', '--json'], { cwd: root });
    expect(second.code).toBe(0);
    const summary = JSON.parse(second.stdout) as { run: { steps: { status: string }[] }; tables: { table: string; rows: number }[] };
    expect(summary.run.steps.every((s) => s.status === 'skipped')).toBe(true);
    expect(summary.tables).toContainEqual({ table: 'gold.customer_360', layer: 'gold', rows: 4 });
  });

  it('cancels on Ctrl-C: exit 130, running steps rolled back, and it says so', async () => {
    const project = join(root, 'cancel');
    refinery(['init', 'cancel'], { cwd: root });
    const configPath = join(project, 'refinery.config.ts');
    writeFileSync(
      configPath,
      readFileSync(configPath, 'utf8')
        .replace("import { defineProject } from 'refinery';", "import { defineProject, task } from 'refinery';")
        .replace("  name: 'customers',", "  name: 'customers',\n  tasks: { slow: task({ after: ['gold.customer_360'], run: ({ signal }) => new Promise((r, j) => { const t = setTimeout(r, 30000); signal.addEventListener('abort', () => { clearTimeout(t); j(signal.reason); }); }) }) },"),
    );
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [BIN, 'run'], { cwd: project, env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise<void>((resolveStarted) => {
      const check = setInterval(() => {
        if (out.includes('gold.customer_360')) {
          clearInterval(check);
          resolveStarted();
        }
      }, 50);
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(130);
    expect(out).toMatch(/Run 1 cancelled after .*: 5 steps had finished and stay committed/);
    expect(out).not.toContain('succeeded');
  });
});
