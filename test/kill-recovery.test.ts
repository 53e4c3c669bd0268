import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import { generateMessyCustomers } from '../src/generate/messy-customers.js';
import { scaffoldProject } from '../src/templates.js';
import { BIN } from './helpers/cli.js';
import { tempDir } from './helpers/temp-project.js';

/**
 * Exactly-once results on at-least-once execution: a `refinery run` killed with SIGKILL at any moment — while
 * files are read, mid-merge, between commits — and then run again must leave every layer exactly as one
 * uninterrupted run does. Kill moments are spread over the whole run (and a few failpoints hit the windows
 * between a commit and what follows it deterministically).
 */
const KILL_POINTS = 22;
const IGNORED = new Set(['_ingested_at', '_run_id']);

let root: string;
let template: string;
let reference: Record<string, string[]>;
let referenceMs = 0;

function runCli(dir: string, env: Record<string, string> = {}): number {
  return runCliJson(dir, env).status;
}

function runCliJson(dir: string, env: Record<string, string> = {}): { status: number; stdout: string } {
  const result = spawnSync(process.execPath, [BIN, 'run', '--json'], { cwd: dir, env: { ...process.env, NO_COLOR: '1', ...env }, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status ?? -1, stdout: result.stdout };
}

/** Every row of every data layer, as sorted JSON lines, without the columns that record when. */
async function snapshot(dir: string): Promise<Record<string, string[]>> {
  const db = await DuckDBInstance.create(join(dir, '.refinery', 'warehouse.duckdb'), { access_mode: 'READ_ONLY' });
  const c = await db.connect();
  try {
    const tables = (await c.runAndReadAll(`SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_schema IN ('bronze', 'silver', 'quarantine', 'gold') ORDER BY 1, 2`)).getRowObjectsJson();
    const out: Record<string, string[]> = {};
    for (const { s, t } of tables as { s: string; t: string }[]) {
      const columns = (await c.runAndReadAll(`SELECT column_name FROM information_schema.columns WHERE table_schema = '${s}' AND table_name = '${t}' ORDER BY ordinal_position`))
        .getRowObjectsJson()
        .map((r) => String(r.column_name))
        .filter((col) => !IGNORED.has(col));
      const rows = (await c.runAndReadAll(`SELECT to_json(struct_pack(${columns.map((col) => `"${col}" := "${col}"`).join(', ')}))::VARCHAR AS j FROM "${s}"."${t}"`)).getRowObjectsJson();
      out[`${s}.${t}`] = rows.map((r) => String(r.j)).sort();
    }
    return out;
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

function freshCopy(name: string): string {
  const dir = join(root, name);
  rmSync(dir, { recursive: true, force: true });
  cpSync(template, dir, { recursive: true, filter: (src) => !src.includes('.refinery') });
  return dir;
}

describe('a run killed at any moment, then re-run, equals an uninterrupted run', () => {
  beforeAll(async () => {
    root = tempDir('refinery-kill-');
    template = join(root, 'template');
    scaffoldProject(template, 'customers');
    for (const zone of ['customers', 'orders']) {
      rmSync(join(template, 'landing', zone), { recursive: true, force: true });
      mkdirSync(join(template, 'landing', zone), { recursive: true });
    }
    // Several files per source, so kills land between file commits as well as inside them.
    for (const part of [1, 2, 3]) {
      await generateMessyCustomers({ rows: 3_000, seed: part, out: join(template, 'landing', 'customers', `customers_${part}.csv`), orders: { rows: 1_500, out: join(template, 'landing', 'orders', `orders_${part}.csv`) } });
    }
    const dir = freshCopy('reference');
    const started = Date.now();
    expect(runCli(dir)).toBe(0);
    referenceMs = Date.now() - started;
    reference = await snapshot(dir);
    expect(Object.keys(reference)).toEqual(['bronze.customers', 'bronze.orders', 'gold.customer_360', 'quarantine.customers', 'quarantine.orders', 'silver.customers', 'silver.orders']);
  }, 300_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it(`survives ${KILL_POINTS} SIGKILLs spread over the run`, async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < KILL_POINTS; i++) {
      // Spread kill moments over the run, from process start to near its end (jittered, reproducible).
      let delay = Math.round((0.02 + (0.75 * (i + ((i * 7919) % 10) / 10)) / KILL_POINTS) * referenceMs);
      let dir = '';
      let killed = false;
      // The reference was timed while other suites competed for the CPU; when a run outpaces its kill moment,
      // the same point is tried again earlier, so kills that land do not depend on how busy the machine is.
      for (let attempt = 0; attempt < 4 && !killed; attempt++) {
        if (dir) {
          rmSync(dir, { recursive: true, force: true });
          delay = Math.round(delay / 2);
        }
        dir = freshCopy(`kill-${i}`);
        const child = spawn(process.execPath, [BIN, 'run'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: 'ignore' });
        await new Promise((r) => setTimeout(r, delay));
        killed = child.exitCode === null && child.kill('SIGKILL');
        await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
      }
      outcomes.push(killed ? `killed at ${delay} ms` : `finished before ${delay} ms`);
      expect(runCli(dir), `re-run after a kill at ${delay} ms`).toBe(0);
      expect(await snapshot(dir), `layers after a kill at ${delay} ms`).toEqual(reference);
      rmSync(dir, { recursive: true, force: true });
    }
    // Most kill points must actually interrupt a run, or the test proves nothing.
    expect(outcomes.filter((o) => o.startsWith('killed')).length).toBeGreaterThanOrEqual(20);
  }, 900_000);

  it.each(['bronze:after-file-commit', 'silver:before-commit', 'gold:before-commit'])('survives a crash at the failpoint %s', async (point) => {
    const dir = freshCopy(`failpoint-${point.replace(/[^a-z]/g, '-')}`);
    expect(runCli(dir, { REFINERY_FAILPOINT: point })).not.toBe(0);
    const rerun = runCliJson(dir);
    expect(rerun.status).toBe(0);
    // The re-run says which run it picked up: the one the failpoint killed.
    expect(JSON.parse(rerun.stdout)).toMatchObject({ runId: 2, resumesRunId: 1, status: 'success' });
    expect(await snapshot(dir)).toEqual(reference);
  }, 300_000);

  it('keeps the record of a bronze step whose files all committed before the crash', async () => {
    // One file per source: the file's transaction is the step's last, and carries the step's record.
    const dir = freshCopy('failpoint-bronze-record');
    for (const zone of ['customers', 'orders']) for (const part of [2, 3]) rmSync(join(dir, 'landing', zone, `${zone}_${part}.csv`));
    expect(runCli(dir, { REFINERY_FAILPOINT: 'bronze:after-file-commit' })).not.toBe(0);
    const db = await DuckDBInstance.create(join(dir, '.refinery', 'warehouse.duckdb'));
    const c = await db.connect();
    try {
      const rows = async (sql: string) => (await c.runAndReadAll(sql)).getRowObjectsJson();
      const ingested = (await rows(`SELECT DISTINCT 'bronze.' || source AS step FROM refinery.batches WHERE run_id = 1 ORDER BY 1`)).map((r) => r.step);
      expect(ingested.length).toBeGreaterThan(0);
      const recorded = await rows(`SELECT step, status, rows_in FROM refinery.steps WHERE run_id = 1 AND kind = 'bronze' ORDER BY step`);
      expect(recorded.map((r) => r.step)).toEqual(ingested);
      expect(recorded.every((r) => r.status === 'success' && Number(r.rows_in) > 0)).toBe(true);
    } finally {
      c.closeSync();
      db.closeSync();
    }
  }, 120_000);
});
