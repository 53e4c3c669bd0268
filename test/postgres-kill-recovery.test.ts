import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from './helpers/cli.js';
import { projectFile } from './helpers/project-files.js';
import { PG_URL, PgFixture, requirePostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/temp-project.js';

/**
 * Exactly-once with a PostgreSQL cdc source: `refinery run` killed with SIGKILL at any moment of the initial
 * snapshot or of streaming changes — while the extract arrives in parts, while they are staged, mid-merge, after the
 * warehouse commit and before the slot is told — then run again, leaves bronze and silver exactly as one
 * uninterrupted run does, and the next day's run reads the next change exactly once. Every project has its own slot,
 * so all of them see the same snapshot and changes.
 */
const run = await requirePostgres('the PostgreSQL kill-recovery suite');
const KILLS_PER_PHASE = 6;
// What differs between two runs that load the same rows: when, which run, and the slot named in the batch label.
const IGNORED = new Set(['_ingested_at', '_run_id', '_source_file']);

describe.runIf(run)('a PostgreSQL cdc run killed at any moment, then re-run, equals an uninterrupted run', () => {
  const fixture = new PgFixture();
  const slots: string[] = [];
  let root: string;

  /** A project over the fixture's table whose slot (named after the project) is its own. */
  function newProject(name: string): string {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    slots.push(`refinery_${name}_crm`);
    writeFileSync(
      join(dir, 'refinery.config.ts'),
      projectFile({
        name,
        sources: { crm: { kind: 'postgres', connection: { urlEnv: 'REFINERY_TEST_CRM_URL' }, table: `${fixture.schema}.customers`, key: 'id', load: { strategy: 'cdc' } } },
        silver: { customers: { from: 'crm', columns: { id: { type: 'integer' }, name: {}, status: {}, updated_at: { type: 'timestamp' } }, key: 'id', latest: 'updated_at' } },
      }),
    );
    return dir;
  }

  // Small parts, so a kill lands between parts being received and staged, not only before or after the extract.
  const env = { ...process.env, NO_COLOR: '1', REFINERY_TEST_CRM_URL: PG_URL, REFINERY_EXTRACT_PART_BYTES: String(256 << 10) };

  function runToEnd(dir: string): number {
    return spawnSync(process.execPath, [BIN, 'run'], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 }).status ?? -1;
  }

  /** Starts a run and kills it after `delay` ms; true when the kill landed before the run ended by itself. */
  async function killAfter(dir: string, delay: number): Promise<boolean> {
    const child = spawn(process.execPath, [BIN, 'run'], { cwd: dir, env, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, delay));
    const killed = child.exitCode === null && child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
    return killed;
  }

  /** Bronze and silver, as sorted JSON lines per table. */
  async function layers(dir: string): Promise<Record<string, string[]>> {
    const db = await DuckDBInstance.create(join(dir, '.refinery', 'warehouse.duckdb'), { access_mode: 'READ_ONLY' });
    const c = await db.connect();
    try {
      const out: Record<string, string[]> = {};
      for (const table of ['bronze.crm', 'silver.customers']) {
        const [s, t] = table.split('.') as [string, string];
        const columns = (await c.runAndReadAll(`SELECT column_name FROM information_schema.columns WHERE table_schema = '${s}' AND table_name = '${t}' ORDER BY ordinal_position`))
          .getRowObjectsJson()
          .map((r) => String(r.column_name))
          .filter((col) => !IGNORED.has(col));
        const rows = (await c.runAndReadAll(`SELECT to_json(struct_pack(${columns.map((col) => `"${col}" := "${col}"`).join(', ')}))::VARCHAR AS j FROM ${table}`)).getRowObjectsJson();
        out[table] = rows.map((r) => String(r.j)).sort();
      }
      return out;
    } finally {
      c.closeSync();
      db.closeSync();
    }
  }

  /** Kills a run of every project at a moment spread over `span` ms, re-runs it, and compares it with the reference. */
  async function killAndCompare(projects: string[], span: number, reference: Record<string, string[]>): Promise<void> {
    const outcomes: string[] = [];
    for (const [i, dir] of projects.entries()) {
      const delay = Math.round(span * (0.1 + (0.8 * i) / projects.length));
      const outcome = (await killAfter(dir, delay)) ? `killed at ${delay} ms` : `finished before ${delay} ms`;
      outcomes.push(outcome);
      expect(runToEnd(dir), `re-run after a run ${outcome}`).toBe(0);
      expect(await layers(dir), `layers after a run ${outcome}`).toEqual(reference);
    }
    // Most kills must interrupt a run, or the test proves nothing.
    expect(outcomes.filter((o) => o.startsWith('killed')).length, outcomes.join('; ')).toBeGreaterThanOrEqual(projects.length - 2);
  }

  beforeAll(async () => {
    root = tempDir('refinery-pgkill-');
    await fixture.sql(`CREATE TABLE customers (id int PRIMARY KEY, name text, status text, updated_at timestamp)`);
    await fixture.sql(
      `INSERT INTO customers SELECT i, CASE WHEN i % 97 = 0 THEN 'two' || chr(10) || 'lines, "quoted"' ELSE 'customer ' || i END,
              (ARRAY['active', 'inactive', 'pending'])[1 + i % 3], '2024-01-01'::timestamp + i * interval '1 second'
       FROM generate_series(1, 40000) AS t(i)`,
    );
  }, 60_000);

  afterAll(async () => {
    await fixture.dispose(slots);
    rmSync(root, { recursive: true, force: true });
  });

  it(`survives ${KILLS_PER_PHASE} SIGKILLs during the initial snapshot and ${KILLS_PER_PHASE} while streaming changes`, async () => {
    const reference = newProject('pgkill_ref');
    const projects = Array.from({ length: KILLS_PER_PHASE }, (_, i) => newProject(`pgkill_${i}`));

    // Day 1: the initial snapshot. No change happens until every project has taken it.
    let started = Date.now();
    expect(runToEnd(reference)).toBe(0);
    const snapshotMs = Date.now() - started;
    const afterSnapshot = await layers(reference);
    expect(afterSnapshot['bronze.crm']).toHaveLength(40000);
    await killAndCompare(projects, snapshotMs, afterSnapshot);

    // Day 2: updates, deletes, re-inserts and new rows, in several transactions, streamed from each project's slot.
    await fixture.sql(`UPDATE customers SET status = 'changed', updated_at = updated_at + interval '1 day' WHERE id % 2 = 0`);
    await fixture.sql(`DELETE FROM customers WHERE id % 10 = 5`);
    await fixture.sql(`INSERT INTO customers SELECT i, 'new ' || i, 'active', '2024-03-01' FROM generate_series(40001, 50000) AS t(i)`);
    await fixture.sql(`INSERT INTO customers VALUES (15, 'back again', 'active', '2024-03-02')`);
    started = Date.now();
    expect(runToEnd(reference)).toBe(0);
    const streamMs = Date.now() - started;
    const afterStream = await layers(reference);
    expect(afterStream['bronze.crm']).toHaveLength(40000 + 20000 + 4000 + 10000 + 1);
    expect(afterStream['silver.customers']).toHaveLength(40000 - 4000 + 10000 + 1);
    await killAndCompare(projects, streamMs, afterStream);

    // Day 3: one more change. The position each project stored (the last change, or where its re-run read up to
    // when every change was already in) must make the next run read that change once: no gap, no change twice.
    await fixture.sql(`UPDATE customers SET status = 'day 3' WHERE id = 2`);
    expect(runToEnd(reference)).toBe(0);
    const afterDay3 = await layers(reference);
    expect(afterDay3['bronze.crm']).toHaveLength(afterStream['bronze.crm']!.length + 1);
    for (const dir of projects) {
      expect(runToEnd(dir)).toBe(0);
      expect(await layers(dir), `layers of ${dir} on day 3`).toEqual(afterDay3);
    }
  }, 600_000);
});
