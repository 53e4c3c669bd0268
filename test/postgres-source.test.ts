import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RefineryError } from '../src/errors.js';
import { previewRun } from '../src/incremental/run-preview.js';
import { lsnValue } from '../src/sources/postgres/pgoutput-changes.js';
import { ENGINES } from './helpers/engines.js';
import { projectFile } from './helpers/project-files.js';
import { PG_URL, PgFixture, requirePostgres } from './helpers/postgres.js';
import { TestProject } from './helpers/temp-project.js';
import { refinery } from './helpers/cli.js';

const run = await requirePostgres('the PostgreSQL source suites');

/** A project with one PostgreSQL source and no silver: these tests look at what lands in bronze and state. */
function pgProject(fixture: PgFixture, load: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return projectFile({
    name: 'pgtest',
    sources: { crm: { kind: 'postgres', connection: { urlEnv: 'REFINERY_TEST_CRM_URL' }, table: `${fixture.schema}.customers`, key: 'id', load: load as never, ...extra } },
  });
}

process.env.REFINERY_TEST_CRM_URL = PG_URL;

describe.runIf(run).each(ENGINES)('PostgreSQL source on $name', (engine) => {
  let fixture: PgFixture;
  let project: TestProject;
  const slots: string[] = [];
  beforeAll(() => undefined);
  afterEach(async () => {
    await project?.dispose();
    await fixture?.dispose(slots.splice(0));
  });

  async function setup(load: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<void> {
    fixture = new PgFixture();
    await fixture.sql(`CREATE TABLE customers (id int PRIMARY KEY, name text, status text, updated_at timestamp)`);
    await fixture.sql(`INSERT INTO customers VALUES (1, 'Ann', 'active', '2024-01-01 10:00'), (2, 'Bob', NULL, '2024-01-01 10:00'), (3, '', 'pending', '2024-01-02 09:00')`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': pgProject(fixture, load, extra) });
  }

  /** The CDC position the warehouse stored with its data, and the one the server's slot has confirmed. */
  const storedLsn = async (): Promise<string> => (await project.rows(`SELECT value FROM refinery.source_state WHERE name = 'cdc_lsn'`))[0]?.value as string;
  const confirmedLsn = async (slot = 'refinery_pgtest_crm'): Promise<string> =>
    (await fixture.sql(`SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1`, [slot])).rows[0]?.l as string;
  /** How many of the slot and the publication of that name exist on the server: 0 and 0 before anything is created. */
  const created = async (slot = 'refinery_pgtest_crm'): Promise<{ slots: number; pubs: number } | undefined> =>
    (await fixture.sql(`SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1)::int AS slots, (SELECT count(*) FROM pg_publication WHERE pubname = $1)::int AS pubs`, [slot])).rows[0];
  const bronze = (cols = 'id, name, status, _op, _batch_id') => project.rows(`SELECT ${cols} FROM bronze.crm ORDER BY _batch_id, _source_row`);

  it('full: extracts every row with COPY, keeping NULL and empty text apart', async () => {
    await setup({ strategy: 'full' });
    const report = await project.run();
    expect(report.status).toBe('success');
    expect(await bronze('id, name, status')).toEqual([
      { id: '1', name: 'Ann', status: 'active' },
      { id: '2', name: 'Bob', status: null },
      { id: '3', name: '', status: 'pending' },
    ]);
    await project.close();
    // A database step has no landing files: its line says what it extracted, not "0 files ingested".
    const second = refinery(['run'], { cwd: project.dir, env: { REFINERY_TEST_CRM_URL: PG_URL } });
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^✔ bronze\.crm +3 rows extracted\n +full extract: 3 rows$/m);
    expect(second.stdout).not.toContain('files ingested');
    const json = refinery(['run', '--json'], { cwd: project.dir, env: { REFINERY_TEST_CRM_URL: PG_URL } });
    expect((JSON.parse(json.stdout) as { steps: { name: string; reads?: string; rowsIn: number }[] }).steps[0]).toMatchObject({ name: 'bronze.crm', reads: 'database', rowsIn: 3 });
    expect(await project.rows(`SELECT batch_id, load_kind, rows FROM refinery.batches ORDER BY batch_id`)).toEqual([
      { batch_id: 1, load_kind: 'full', rows: 3 },
      { batch_id: 2, load_kind: 'full', rows: 3 },
      { batch_id: 3, load_kind: 'full', rows: 3 },
    ]);
  });

  it('cursor: reads from the watermark, re-reads rows on it without duplicating them, and picks up late rows within lag', async () => {
    await setup({ strategy: 'cursor', cursor: 'updated_at', lag: '1h' });
    await project.run();
    expect(await project.rows(`SELECT value FROM refinery.source_state WHERE name = 'watermark'`)).toEqual([{ value: '2024-01-02 09:00:00' }]);
    // A row sharing the watermark's timestamp, a change, and a row committed late (30 min behind the watermark).
    await fixture.sql(`INSERT INTO customers VALUES (4, 'Dee', 'active', '2024-01-02 09:00'), (5, 'Late', 'active', '2024-01-02 08:30')`);
    await fixture.sql(`UPDATE customers SET status = 'inactive', updated_at = '2024-01-03 12:00' WHERE id = 1`);
    const second = await project.run();
    expect(second.steps[0]?.message).toBe('cursor updated_at: 3 new or changed rows; watermark 2024-01-02 09:00:00 → 2024-01-03 12:00:00');
    expect(await bronze('id, status, _batch_id')).toEqual([
      { id: '1', status: 'active', _batch_id: 1 },
      { id: '2', status: null, _batch_id: 1 },
      { id: '3', status: 'pending', _batch_id: 1 },
      { id: '5', status: 'active', _batch_id: 2 },
      { id: '4', status: 'active', _batch_id: 2 },
      { id: '1', status: 'inactive', _batch_id: 2 },
    ]);
    const third = await project.run();
    expect(third.steps[0]).toMatchObject({ status: 'skipped', rowsIn: 0 });
  });

  it('cursor: refuses to compare a naive start value with a time-zone aware column', async () => {
    fixture = new PgFixture();
    await fixture.sql(`CREATE TABLE customers (id int PRIMARY KEY, updated_at timestamptz)`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': pgProject(fixture, { strategy: 'cursor', cursor: 'updated_at', since: '2024-01-01 00:00:00' }) });
    const report = await project.run();
    expect(report.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cursor_timezone_mismatch' } });
    expect(report.steps[0]?.message).toContain("is naive, but the cursor updated_at is timestamp with time zone");
  });

  it('snapshot: compares today\'s extract with the last one by key and row hash: inserts, updates, deletes', async () => {
    await setup({ strategy: 'snapshot' });
    await project.run();
    await fixture.sql(`UPDATE customers SET status = 'suspended' WHERE id = 2`);
    await fixture.sql(`DELETE FROM customers WHERE id = 3`);
    await fixture.sql(`INSERT INTO customers VALUES (4, 'Dee', 'active', '2024-01-05 00:00')`);
    const second = await project.run();
    expect(second.steps[0]?.message).toBe('snapshot: 1 insert, 1 update, 1 delete');
    expect(await project.rows(`SELECT id, status, _op FROM bronze.crm WHERE _batch_id = 2 ORDER BY _source_row`)).toEqual([
      { id: '2', status: 'suspended', _op: 'update' },
      { id: '4', status: 'active', _op: 'insert' },
      { id: '3', status: null, _op: 'delete' },
    ]);
    const third = await project.run();
    expect(third.steps[0]?.message).toBe('snapshot: 0 inserts, 0 updates, 0 deletes');
  });

  it('snapshot: stops with the key and rows when keys are duplicated', async () => {
    fixture = new PgFixture();
    await fixture.sql(`CREATE TABLE customers (id int, name text)`);
    await fixture.sql(`INSERT INTO customers VALUES (1, 'a'), (1, 'b'), (2, 'c')`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': pgProject(fixture, { strategy: 'snapshot' }) });
    const report = await project.run();
    expect(report.steps[0]).toMatchObject({ status: 'failed', error: { code: 'duplicate_key' } });
    expect(report.steps[0]?.message).toContain('id=1 (2 rows)');
  });

  it('cdc: initial snapshot, then inserts, updates and deletes from the slot; acknowledged only after commit', async () => {
    await setup({ strategy: 'cdc' });
    const slot = `refinery_pgtest_crm`;
    slots.push(slot);
    const first = await project.run();
    expect(first.steps[0]?.message).toMatch(/^cdc: initial snapshot of 3 rows; slot refinery_pgtest_crm created at /);
    await fixture.sql(`INSERT INTO customers VALUES (4, 'Dee', 'active', now())`);
    await fixture.sql(`UPDATE customers SET status = 'inactive' WHERE id = 1`);
    await fixture.sql(`DELETE FROM customers WHERE id = 2`);
    await fixture.sql(`INSERT INTO customers VALUES (2, 'Bob again', 'pending', now())`);
    // `refinery plan` counts what waits in the slot, by kind, without consuming it.
    const { plan, warehouse } = await project.open();
    const [preview] = await previewRun(plan, warehouse);
    expect(preview).toMatchObject({ changes: { inserts: 2, updates: 1, deletes: 1 }, reads: expect.stringMatching(/waiting in slot refinery_pgtest_crm: 2 inserts, 1 update, 1 delete \(decoding /) });
    expect(preview?.stops).toBeUndefined();
    const second = await project.run();
    expect(second.steps[0]?.message).toMatch(/^cdc: 4 changes up to /);
    expect(await project.rows(`SELECT id, name, status, _op FROM bronze.crm WHERE _batch_id = 2 ORDER BY _source_row`)).toEqual([
      { id: '4', name: 'Dee', status: 'active', _op: 'insert' },
      { id: '1', name: 'Ann', status: 'inactive', _op: 'update' },
      { id: '2', name: null, status: null, _op: 'delete' },
      { id: '2', name: 'Bob again', status: 'pending', _op: 'insert' },
    ]);
    expect(await confirmedLsn()).toBe(await storedLsn());
    const third = await project.run();
    expect(third.steps[0]).toMatchObject({ status: 'skipped', message: expect.stringMatching(/^cdc: 0 changes/) });
  });

  it('an extract cut into many parts, staged while it arrives, lands whole: every row once, in order, awkward values intact', async () => {
    // 2 KB parts: the 5,000-row snapshot and the 5,000 changes below (about 300 KB each) arrive in some 150 parts each.
    process.env.REFINERY_EXTRACT_PART_BYTES = '2048';
    try {
      await setup({ strategy: 'cdc' });
      slots.push('refinery_pgtest_crm');
      await fixture.sql(`INSERT INTO customers SELECT i, 'line one' || chr(10) || 'says "hi", ' || i, CASE WHEN i % 7 = 0 THEN NULL WHEN i % 11 = 0 THEN '' ELSE 'active' END, '2024-02-01'::timestamp + i * interval '1 minute' FROM generate_series(10, 5009) AS t(i)`);
      // What a killed run left behind: this source's part goes with the next run, another source's file stays.
      const extracts = join(project.dir, '.refinery', 'extracts');
      mkdirSync(extracts, { recursive: true });
      writeFileSync(join(extracts, 'crm-99-1.csv.3'), 'id\n1\n');
      writeFileSync(join(extracts, 'crm_eu-99-1.csv.0'), 'id\n1\n');
      const first = await project.run();
      expect(first.steps[0]).toMatchObject({ status: 'success', rowsIn: 5003 });
      await fixture.sql(`UPDATE customers SET status = 'changed ' || id WHERE id >= 10`);
      const details: string[] = [];
      const second = await project.run({ progress: (e) => void (e.type === 'step-detail' && details.push(e.detail)) });
      expect(second.steps[0]).toMatchObject({ status: 'success', rowsIn: 5000 });
      // While the changes arrive, the step says how far it got: more rows staged each time, all before the rest.
      const arriving = details.filter((d) => /^reading changes from slot \S+ \(.*\): \d+ MB received, [\d,]+ rows staged$/.test(d));
      const staged = arriving.map((d) => Number(/([\d,]+) rows staged/.exec(d)?.[1]?.replaceAll(',', '')));
      // One line per part: about 300 KB of changes in 2 KB parts.
      expect(arriving.length).toBeGreaterThan(100);
      expect(staged).toEqual([...staged].sort((a, b) => a - b));
      expect(staged.at(-1)).toBeLessThan(5000);
      expect(details.indexOf(arriving.at(-1) as string)).toBeLessThan(details.indexOf('staging the extract'));
      // Each batch numbers its rows 1..n in extract order; the changes come in commit order, ids ascending here.
      expect(await project.rows(`SELECT _batch_id, count(*) AS n, count(DISTINCT id) AS ids, min(_source_row) AS lo, max(_source_row) AS hi, count(DISTINCT _source_row) AS numbered FROM bronze.crm GROUP BY _batch_id ORDER BY _batch_id`)).toEqual([
        { _batch_id: 1, n: 5003, ids: 5003, lo: 1, hi: 5003, numbered: 5003 },
        { _batch_id: 2, n: 5000, ids: 5000, lo: 1, hi: 5000, numbered: 5000 },
      ]);
      expect(await project.rows(`SELECT count(*) AS n FROM bronze.crm WHERE _batch_id = 2 AND CAST(id AS INTEGER) <> _source_row + 9`)).toEqual([{ n: 0 }]);
      expect(await project.rows(`SELECT name, status FROM bronze.crm WHERE id IN ('14', '22') AND _batch_id = 1 ORDER BY id`)).toEqual([
        { name: 'line one\nsays "hi", 14', status: null },
        { name: 'line one\nsays "hi", 22', status: '' },
      ]);
      expect(await project.rows(`SELECT status, _op FROM bronze.crm WHERE id = '5009' ORDER BY _batch_id`)).toEqual([
        { status: 'active', _op: 'insert' },
        { status: 'changed 5009', _op: 'update' },
      ]);
      // Every part file is gone once the batch is in.
      expect(readdirSync(extracts)).toEqual(['crm_eu-99-1.csv.0']);
    } finally {
      delete process.env.REFINERY_EXTRACT_PART_BYTES;
    }
  });

  it('a part that fails to stage stops the extraction: the step fails with that error, nothing is half-written, the next run lands it all', async () => {
    // 2 KB parts, the fourth fails to stage: once in the initial snapshot (COPY), once while changes stream in.
    process.env.REFINERY_EXTRACT_PART_BYTES = '2048';
    const slot = 'refinery_pgtest_crm';
    const failingRun = async (): Promise<void> => {
      process.env.REFINERY_FAULT = 'extract:stage-part:3';
      try {
        const failed = await project.run();
        // The staging error is the one reported, not the extraction it cut short.
        expect(failed.steps[0]).toMatchObject({ status: 'failed', message: expect.stringContaining('injected fault at extract:stage-part:3') });
      } finally {
        delete process.env.REFINERY_FAULT;
      }
      // Parts 0-2 were staged before the failure: none reached bronze, and every part file is gone.
      expect(readdirSync(join(project.dir, '.refinery', 'extracts'))).toEqual([]);
    };
    const batches = () => project.rows(`SELECT _batch_id, count(*) AS n, count(DISTINCT id) AS ids, min(_source_row) AS lo, max(_source_row) AS hi FROM bronze.crm GROUP BY _batch_id ORDER BY _batch_id`);
    try {
      await setup({ strategy: 'cdc' });
      slots.push(slot);
      await fixture.sql(`INSERT INTO customers SELECT i, 'Customer ' || i, 'active', '2024-02-01'::timestamp + i * interval '1 minute' FROM generate_series(10, 5009) AS t(i)`);
      await failingRun();
      expect(await project.rows(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'bronze' AND table_name = 'crm'`)).toEqual([{ n: 0 }]);
      expect(await project.rows(`SELECT count(*) AS n FROM refinery.source_state`)).toEqual([{ n: 0 }]);
      expect(await project.run()).toMatchObject({ status: 'success', steps: [{ rowsIn: 5003 }] });

      await fixture.sql(`UPDATE customers SET status = 'changed ' || id WHERE id >= 10`);
      const position = await storedLsn();
      const slotBefore = await confirmedLsn();
      await failingRun();
      // Neither the warehouse nor the slot moved: the changes wait for the next run.
      expect(await batches()).toEqual([{ _batch_id: 1, n: 5003, ids: 5003, lo: 1, hi: 5003 }]);
      expect(await storedLsn()).toBe(position);
      expect(await confirmedLsn()).toBe(slotBefore);
      expect(await project.run()).toMatchObject({ status: 'success', steps: [{ rowsIn: 5000 }] });
      expect(await batches()).toEqual([
        { _batch_id: 1, n: 5003, ids: 5003, lo: 1, hi: 5003 },
        { _batch_id: 2, n: 5000, ids: 5000, lo: 1, hi: 5000 },
      ]);
    } finally {
      delete process.env.REFINERY_EXTRACT_PART_BYTES;
    }
  });

  it('cursor: the watermark is the last value read; a cursor column the project does not extract is asked for first', async () => {
    process.env.REFINERY_EXTRACT_PART_BYTES = '64';
    try {
      await setup({ strategy: 'cursor', cursor: 'updated_at' });
      await fixture.sql(`INSERT INTO customers VALUES (4, 'No time', 'active', NULL)`);
      await project.run();
      // The row without a cursor value sorts last in the extract but is no watermark.
      expect(await project.rows(`SELECT value FROM refinery.source_state WHERE name = 'watermark'`)).toEqual([{ value: '2024-01-02 09:00:00' }]);
      expect(await project.rows(`SELECT count(*) AS n FROM bronze.crm`)).toEqual([{ n: 4 }]);
    } finally {
      delete process.env.REFINERY_EXTRACT_PART_BYTES;
    }
    await project.dispose();
    await fixture.dispose();
    fixture = new PgFixture();
    await fixture.sql(`CREATE TABLE customers (id int PRIMARY KEY, name text, status text, updated_at timestamp)`);
    await fixture.sql(`INSERT INTO customers VALUES (1, 'Ann', 'active', '2024-01-01 10:00'), (2, 'Bob', NULL, '2024-01-03 10:00')`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': pgProject(fixture, { strategy: 'cursor', cursor: 'updated_at' }, { columns: ['id', 'name'] }) });
    const first = await project.run();
    expect(first.steps[0]?.message).toBe('cursor updated_at: 2 new or changed rows; watermark (none) → 2024-01-03 10:00:00');
    await fixture.sql(`INSERT INTO customers VALUES (3, 'Cy', 'active', '2024-01-04 10:00')`);
    const second = await project.run();
    expect(second.steps[0]?.message).toBe('cursor updated_at: 1 new or changed row; watermark 2024-01-03 10:00:00 → 2024-01-04 10:00:00');
    expect(await project.rows(`SELECT id, name FROM bronze.crm ORDER BY _batch_id, _source_row`)).toEqual([
      { id: '1', name: 'Ann' },
      { id: '2', name: 'Bob' },
      { id: '3', name: 'Cy' },
    ]);
  });

  it('cdc: killed after the warehouse commit but before the slot was told, the re-run drops the re-delivered changes', async () => {
    await setup({ strategy: 'cdc' });
    const slot = `refinery_pgtest_crm`;
    slots.push(slot);
    await project.run();
    await project.close();
    await fixture.sql(`UPDATE customers SET status = 'inactive' WHERE id = 1`);
    await fixture.sql(`INSERT INTO customers VALUES (4, 'Dee', 'active', now())`);
    const crashed = refinery(['run'], { cwd: project.dir, env: { REFINERY_TEST_CRM_URL: PG_URL, REFINERY_FAILPOINT: 'cdc:after-commit-before-ack' } });
    expect(crashed.code).not.toBe(0);
    const position = async () => ({
      stored: await storedLsn(),
      confirmed: await confirmedLsn(),
    });
    // The batch is in the warehouse, the slot still holds its two changes: they will be delivered again.
    const afterCrash = await position();
    expect(lsnValue(afterCrash.confirmed)).toBeLessThan(lsnValue(afterCrash.stored));
    const committed = [
      { id: '1', status: 'active', _op: 'insert', _batch_id: 1 },
      { id: '2', status: null, _op: 'insert', _batch_id: 1 },
      { id: '3', status: 'pending', _op: 'insert', _batch_id: 1 },
      { id: '1', status: 'inactive', _op: 'update', _batch_id: 2 },
      { id: '4', status: 'active', _op: 'insert', _batch_id: 2 },
    ];
    expect(await bronze('id, status, _op, _batch_id')).toEqual(committed);
    await fixture.sql(`UPDATE customers SET status = 'churned' WHERE id = 4`);
    // plan counts what the run will load: the new change, not the two the slot delivers again.
    const { plan, warehouse } = await project.open();
    expect((await previewRun(plan, warehouse))[0]).toMatchObject({ changes: { inserts: 0, updates: 1, deletes: 0 } });
    const next = await project.run();
    expect(next.steps[0]?.message).toMatch(/^cdc: 1 change up to /);
    // Only the new change arrives: the two delivered again are dropped, not stored a second time.
    expect(await bronze('id, status, _op, _batch_id')).toEqual([...committed, { id: '4', status: 'churned', _op: 'update', _batch_id: 3 }]);
    const settled = await position();
    expect(settled.confirmed).toBe(settled.stored);
  });

  it('cdc: telling the slot failing after the commit does not fail the step; the next run tells it, loading nothing twice', async () => {
    await setup({ strategy: 'cdc' });
    slots.push('refinery_pgtest_crm');
    await project.run();
    await fixture.sql(`UPDATE customers SET status = 'inactive' WHERE id = 1`);
    process.env.REFINERY_FAULT = 'cdc:acknowledge';
    let report;
    try {
      report = await project.run();
    } finally {
      delete process.env.REFINERY_FAULT;
    }
    expect(report.steps[0]).toMatchObject({ status: 'success', rowsWritten: 1 });
    expect(report.steps[0]?.message).toMatch(/^cdc: 1 change up to \S+; committed, but telling the server failed \(injected fault at cdc:acknowledge\): the next run tells it$/);
    expect(lsnValue(await confirmedLsn())).toBeLessThan(lsnValue(await storedLsn()));
    await fixture.sql(`UPDATE customers SET status = 'churned' WHERE id = 3`);
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: 1 change up to \S+$/);
    expect(await confirmedLsn()).toBe(await storedLsn());
    expect(await bronze('id, status, _batch_id')).toEqual([
      { id: '1', status: 'active', _batch_id: 1 },
      { id: '2', status: null, _batch_id: 1 },
      { id: '3', status: 'pending', _batch_id: 1 },
      { id: '1', status: 'inactive', _batch_id: 2 },
      { id: '3', status: 'churned', _batch_id: 3 },
    ]);
  });

  it('cdc: keeps the position its read stopped at, so WAL other tables wrote after the last change is not decoded again', async () => {
    await setup({ strategy: 'cdc' });
    const slot = `refinery_pgtest_crm`;
    slots.push(slot);
    await project.run();
    await fixture.sql(`UPDATE customers SET status = 'inactive' WHERE id = 1`);
    // After that change, WAL this source does not read: a table outside its publication.
    await fixture.sql(`CREATE TABLE other (id int, filler text)`);
    await fixture.sql(`INSERT INTO other SELECT i, repeat('x', 100) FROM generate_series(1, 20000) AS t(i)`);
    const written = (await fixture.sql(`SELECT pg_current_wal_flush_lsn()::text AS l`)).rows[0]?.l as string;
    // plan says what the read will decode: all of that WAL (some 3 MB), for one change.
    const { plan, warehouse } = await project.open();
    const [preview] = await previewRun(plan, warehouse);
    expect(preview).toMatchObject({ changes: { inserts: 0, updates: 1, deletes: 0 }, walBytes: expect.any(Number) });
    expect(preview?.walBytes).toBeGreaterThan(2_000_000);
    expect(preview?.reads).toMatch(/\(decoding \d+(\.\d)? MB of WAL the slot keeps on the server\)$/);
    const report = await project.run();
    // 3 MB of WAL is not worth a word in the step's line (below 64 MiB).
    expect(report.steps[0]?.message).toMatch(/^cdc: 1 change up to [0-9A-F]+\/[0-9A-F]+$/);
    const stored = await storedLsn();
    expect(lsnValue(stored)).toBeGreaterThanOrEqual(lsnValue(written));
    expect(await confirmedLsn()).toBe(stored);
    // And nothing is read twice or skipped: the next change arrives once, alone. It comes after 80 MB of other WAL
    // (messages no table holds), and the line says that is what the read decoded to find it.
    await fixture.sql(`SELECT pg_logical_emit_message(false, 'refinery-test', repeat('x', 1000000)) FROM generate_series(1, 80)`);
    await fixture.sql(`UPDATE customers SET status = 'churned' WHERE id = 3`);
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: 1 change up to \S+; decoded 8\d MB of WAL, every table's, to find them$/);
    expect(await bronze('id, status, _op, _batch_id')).toEqual([
      { id: '1', status: 'active', _op: 'insert', _batch_id: 1 },
      { id: '2', status: null, _op: 'insert', _batch_id: 1 },
      { id: '3', status: 'pending', _op: 'insert', _batch_id: 1 },
      { id: '1', status: 'inactive', _op: 'update', _batch_id: 2 },
      { id: '3', status: 'churned', _op: 'update', _batch_id: 3 },
    ]);
  });

  it('cdc: a truncated source table stops the step with the fix, loading nothing, until a new snapshot', async () => {
    await setup({ strategy: 'cdc' });
    const slot = `refinery_pgtest_crm`;
    slots.push(slot);
    await project.run();
    await fixture.sql(`UPDATE customers SET status = 'inactive' WHERE id = 1`);
    await fixture.sql(`TRUNCATE customers`);
    await fixture.sql(`INSERT INTO customers VALUES (7, 'Gus', 'active', now())`);
    const before = await confirmedLsn();
    // plan says so before the run does.
    const { plan, warehouse } = await project.open();
    const [truncatePreview] = await previewRun(plan, warehouse);
    expect(truncatePreview?.reads).toMatch(/; 1 TRUNCATE waiting too, which will stop the run: take a new snapshot with refinery run --full-refresh --select bronze\.crm\+$/);
    expect(truncatePreview?.stops).toEqual({ code: 'cdc_truncated', message: `${fixture.schema}.customers was truncated at the source (1 TRUNCATE waiting in the slot).`, hint: 'Take a new snapshot, which replaces what came before: refinery run --full-refresh --select bronze.crm+' });
    // The command fails as the run would, so `refinery plan && refinery run` stops before the run.
    await project.close();
    const planText = refinery(['plan'], { cwd: project.dir, env: { REFINERY_TEST_CRM_URL: PG_URL, NO_COLOR: '1' } });
    expect(planText.code).toBe(1);
    expect(planText.stdout).toContain('The run would stop at bronze.crm (cdc_truncated). Take a new snapshot, which replaces what came before: refinery run --full-refresh --select bronze.crm+');
    const planJson = refinery(['plan', '--json'], { cwd: project.dir, env: { REFINERY_TEST_CRM_URL: PG_URL } });
    expect(planJson.code).toBe(1);
    expect(JSON.parse(planJson.stdout)[0].stops.code).toBe('cdc_truncated');
    const failed = await project.run();
    expect(failed.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_truncated', hint: 'Take a new snapshot, which replaces what came before: refinery run --full-refresh --select bronze.crm+' } });
    expect(failed.steps[0]?.message).toMatch(/was truncated at the source \(in the transaction committed at [0-9A-F]+\/[0-9A-F]+\)/);
    expect(await bronze('id, _batch_id')).toEqual([
      { id: '1', _batch_id: 1 },
      { id: '2', _batch_id: 1 },
      { id: '3', _batch_id: 1 },
    ]);
    expect(await confirmedLsn()).toBe(before);
    // The fix the hint gives: a new snapshot holds what the table holds now.
    const refreshed = await project.run({ fullRefresh: true, select: ['bronze.crm+'] });
    expect(refreshed.steps[0]).toMatchObject({ status: 'success', rowsIn: 1 });
    expect((await project.run()).steps[0]).toMatchObject({ status: 'skipped', message: expect.stringMatching(/^cdc: 0 changes/) });
  });

  it('cdc: a column added while changes wait is NULL before it existed; a column renamed stops the read with the new snapshot', async () => {
    await setup({ strategy: 'cdc' });
    slots.push('refinery_pgtest_crm');
    await project.run();
    // Added: the change made before it existed has no value for it, which is what it had.
    await fixture.sql(`UPDATE customers SET status = 'paused' WHERE id = 1`);
    await fixture.sql(`ALTER TABLE customers ADD COLUMN tier text`);
    await fixture.sql(`UPDATE customers SET tier = 'gold' WHERE id = 2`);
    const added = await project.open();
    expect((await previewRun(added.plan, added.warehouse))[0]).toMatchObject({ changes: { inserts: 0, updates: 2, deletes: 0 } });
    expect((await previewRun(added.plan, added.warehouse))[0]?.stops).toBeUndefined();
    await project.close();
    expect((await project.run()).steps[0]).toMatchObject({ status: 'success', rowsIn: 2 });
    expect(await bronze('id, status, tier, _op')).toEqual([
      { id: '1', status: 'active', tier: null, _op: 'insert' },
      { id: '2', status: null, tier: null, _op: 'insert' },
      { id: '3', status: 'pending', tier: null, _op: 'insert' },
      { id: '1', status: 'paused', tier: null, _op: 'update' },
      { id: '2', status: null, tier: 'gold', _op: 'update' },
    ]);

    // Renamed: the change made before the rename sent its value under the old name, which the table no longer has.
    await fixture.sql(`UPDATE customers SET status = 'inactive' WHERE id = 3`);
    await fixture.sql(`ALTER TABLE customers RENAME COLUMN status TO state`);
    await fixture.sql(`UPDATE customers SET state = 'active' WHERE id = 1`);
    const position = await storedLsn();
    const slotBefore = await confirmedLsn();
    // plan says so first, as the run will, and still counts every change waiting.
    const { plan, warehouse } = await project.open();
    const [preview] = await previewRun(plan, warehouse);
    await project.close();
    const refused = await project.run();
    expect(refused.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_columns_renamed', value: 'status → state', hint: 'Take a new snapshot, which reads every row as the table is now: refinery run --full-refresh --select bronze.crm+' } });
    expect(refused.steps[0]?.message).toBe(`${fixture.schema}.customers's columns changed while its changes waited in the slot: 1 change of this read was made when it had status (gone now) and no state, as if status was renamed to state. The change stream names columns but does not number them, so those values cannot be matched to the columns now: loaded, they would read NULL there. Nothing of this read was loaded.`);
    expect(preview?.stops).toEqual({ code: 'cdc_columns_renamed', message: refused.steps[0]?.message, hint: refused.steps[0]?.error?.hint });
    expect(preview?.changes).toEqual({ inserts: 0, updates: 2, deletes: 0 });
    expect(preview?.reads).toContain('; changes made while columns had other names (status → state) waiting too, which will stop the run');
    expect(await storedLsn()).toBe(position);
    expect(await confirmedLsn()).toBe(slotBefore);
    // The fix the hint gives: the new snapshot holds every row as it is now, under the new name.
    expect((await project.run({ fullRefresh: true, select: ['bronze.crm+'] })).steps[0]).toMatchObject({ status: 'success', rowsIn: 3 });
    expect(await project.rows(`SELECT id, state FROM bronze.crm WHERE _batch_id = (SELECT max(_batch_id) FROM bronze.crm) ORDER BY id`)).toEqual([
      { id: '1', state: 'active' },
      { id: '2', state: null },
      { id: '3', state: 'inactive' },
    ]);
  });

  it('cdc: leaves out generated columns, which the change stream does not carry, and says so; naming one is an error', async () => {
    fixture = new PgFixture();
    await fixture.sql(`CREATE TABLE customers (id int PRIMARY KEY, name text, status text, updated_at timestamp, shout text GENERATED ALWAYS AS (upper(name)) STORED)`);
    await fixture.sql(`INSERT INTO customers (id, name, status, updated_at) VALUES (1, 'Ann', 'active', '2024-01-01')`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': pgProject(fixture, { strategy: 'cdc' }) });
    slots.push('refinery_pgtest_crm');
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: initial snapshot of 1 row; .*; generated column shout left out \(the change stream does not carry it\)$/);
    await fixture.sql(`UPDATE customers SET name = 'Anna' WHERE id = 1`);
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: 1 change up to \S+; generated column shout left out/);
    expect(await project.rows(`SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = 'bronze' AND table_name = 'crm' AND column_name = 'shout'`)).toEqual([{ n: 0 }]);
    expect(await bronze('id, name, _op')).toEqual([
      { id: '1', name: 'Ann', _op: 'insert' },
      { id: '1', name: 'Anna', _op: 'update' },
    ]);
    await project.dispose();
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': pgProject(fixture, { strategy: 'cdc' }, { columns: ['id', 'name', 'shout'] }) });
    const named = await project.run();
    expect(named.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_generated_column', path: 'sources.crm.columns' } });
    expect(named.steps[0]?.message).toContain('is a generated column, and PostgreSQL\'s change stream does not carry generated columns');
  });

  it('cdc: drops a slot left behind by an earlier warehouse and starts clean', async () => {
    await setup({ strategy: 'cdc' });
    const slot = `refinery_pgtest_crm`;
    slots.push(slot);
    await fixture.sql(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    const report = await project.run();
    expect(report.steps[0]?.message).toContain('a slot left behind by an earlier warehouse was dropped first');
  });

  it('cdc: refuses, rather than drops, a slot of the same name that belongs to another database', async () => {
    await setup({ strategy: 'cdc' });
    const slot = `refinery_pgtest_crm`;
    const other = new pg.Client({ connectionString: PG_URL.replace(/\/[^/]+$/, '/postgres') });
    await other.connect();
    try {
      await other.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
      const report = await project.run();
      expect(report.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_slot_in_use' } });
      expect(report.steps[0]?.message).toContain('belongs to database postgres, not');
      // Still there: another pipeline's position is not ours to throw away.
      expect((await other.query(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1`, [slot])).rows[0]?.n).toBe(1);
    } finally {
      await other.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
      await other.end();
    }
  });

  it('cdc-drop drops the slot and publication; the next run takes a new snapshot', async () => {
    await setup({ strategy: 'cdc' });
    slots.push('refinery_pgtest_crm');
    await project.run();
    await project.close();
    const dropped = refinery(['cdc-drop', 'crm', '--json'], { cwd: project.dir, env: { REFINERY_TEST_CRM_URL: PG_URL } });
    expect(dropped.code).toBe(0);
    expect(JSON.parse(dropped.stdout)).toMatchObject({ slot: 'refinery_pgtest_crm', droppedSlot: true, droppedPublication: true });
    expect((await fixture.sql(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = 'refinery_pgtest_crm'`)).rows[0]?.n).toBe(0);
    const again = await project.run();
    expect(again.steps[0]?.message).toMatch(/^cdc: initial snapshot of 3 rows/);
  });

  it('cdc: a publication that cannot carry every change stops the step with the fix, on the first read and every later one; a shared one is never dropped', async () => {
    await setup({ strategy: 'cdc' });
    const slot = 'refinery_pgtest_crm';
    slots.push(slot);
    const table = `${fixture.schema}.customers`;
    // A publication of that name is already there, for another table: pgoutput would send nothing of customers.
    await fixture.sql(`CREATE TABLE other (id int PRIMARY KEY)`);
    await fixture.sql(`CREATE PUBLICATION ${slot} FOR TABLE other`);
    const preview = async () => {
      const { plan, warehouse } = await project.open();
      return (await previewRun(plan, warehouse))[0];
    };
    expect(await preview()).toMatchObject({
      reads: `an initial snapshot of 3 rows; creates replication slot ${slot}; publication ${slot} cannot carry every change (it does not publish ${table}), which will stop the run`,
      stops: { code: 'cdc_publication_mismatch', message: expect.stringContaining(`it does not publish ${table}.`) },
    });
    const first = await project.run();
    expect(first.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_publication_mismatch', value: slot } });
    expect(first.steps[0]?.message).toContain(`Publication ${slot} cannot carry every change of ${table}: it does not publish ${table}.`);
    expect(first.steps[0]?.error?.hint).toContain(`Fix it (ALTER PUBLICATION "${slot}" ADD TABLE "${fixture.schema}"."customers";)`);
    expect(first.steps[0]?.error?.hint).toMatch(/then run again\.$/);
    // Checked before the slot is made or anything loaded.
    expect((await fixture.sql(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1`, [slot])).rows[0]?.n).toBe(0);
    expect(await project.rows(`SELECT count(*)::int AS n FROM refinery.batches WHERE source = 'crm'`)).toEqual([{ n: 0 }]);

    await fixture.sql(`ALTER PUBLICATION ${slot} ADD TABLE customers`);
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: initial snapshot of 3 rows/);
    const stored = await storedLsn();

    // Deletes no longer published: a delete now would never reach the slot, so the read stops and says so.
    await fixture.sql(`ALTER PUBLICATION ${slot} SET (publish = 'insert, update')`);
    await fixture.sql(`DELETE FROM customers WHERE id = 2`);
    expect((await preview())?.stops?.code).toBe('cdc_publication_mismatch');
    expect((await preview())?.reads).toMatch(/; publication refinery_pgtest_crm cannot carry every change \(it does not publish deletes, truncates\), which will stop the run$/);
    const later = await project.run();
    expect(later.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_publication_mismatch' } });
    expect(later.steps[0]?.message).toContain('it does not publish deletes, truncates. The changes it leaves out would never reach the warehouse, and those made since it was so never reached the slot.');
    expect(later.steps[0]?.error?.hint).toContain(`ALTER PUBLICATION "${slot}" SET (publish = 'insert, update, delete, truncate');`);
    expect(later.steps[0]?.error?.hint).toMatch(/take a new snapshot: refinery run --full-refresh --select bronze\.crm\+\.$/);
    expect(await storedLsn()).toBe(stored);

    await fixture.sql(`ALTER PUBLICATION ${slot} SET (publish = 'insert, update, delete, truncate')`);
    const version = Number((await fixture.sql(`SHOW server_version_num`)).rows[0]?.server_version_num);
    if (version >= 150000) {
      // A column list (PostgreSQL 15 and later) would leave status NULL in every change.
      await fixture.sql(`ALTER PUBLICATION ${slot} DROP TABLE customers`);
      await fixture.sql(`ALTER PUBLICATION ${slot} ADD TABLE customers (id, name)`);
      expect((await project.run()).steps[0]?.message).toContain('its column list leaves out status, updated_at.');
      await fixture.sql(`ALTER PUBLICATION ${slot} DROP TABLE customers`);
      await fixture.sql(`ALTER PUBLICATION ${slot} ADD TABLE customers`);
    }
    // Fixed, a new snapshot starts over; the publication also serves `other`, so it is kept, not dropped and remade.
    const again = await project.run({ fullRefresh: true });
    expect(again.steps[0]?.message).toMatch(/^cdc: initial snapshot of 2 rows; slot refinery_pgtest_crm created at .* \(the previous slot was dropped first: a new snapshot starts a new stream\)$/);
    const tables = async () => (await fixture.sql(`SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1`, [slot])).rows.map((r) => r.tablename);
    expect(await tables()).toEqual(['customers', 'other']);
    // plan counts this table's changes only, though the publication carries other's too (its truncate included).
    await fixture.sql(`INSERT INTO other VALUES (1), (2)`);
    await fixture.sql(`UPDATE customers SET status = 'gone' WHERE id = 1`);
    await fixture.sql(`TRUNCATE other`);
    expect(await preview()).toMatchObject({ changes: { inserts: 0, updates: 1, deletes: 0 }, reads: expect.stringMatching(/: 0 inserts, 1 update, 0 deletes \(decoding [^)]*\)$/) });
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: 1 change up to /);
    await project.close();
    const dropped = refinery(['cdc-drop', 'crm', '--json'], { cwd: project.dir, env: { REFINERY_TEST_CRM_URL: PG_URL } });
    expect(JSON.parse(dropped.stdout)).toMatchObject({ droppedSlot: true, droppedPublication: false, keptPublication: `it also publishes ${fixture.schema}.other` });
    expect(await tables()).toEqual(['customers', 'other']);
  });

  it("cdc: a table whose updates and deletes would not carry the key stops before anything is created (and before the source's own writes break)", async () => {
    fixture = new PgFixture();
    const slot = 'refinery_pgtest_crm';
    slots.push(slot);
    // No primary key: in a publication of updates, PostgreSQL would refuse the application's UPDATEs.
    await fixture.sql(`CREATE TABLE customers (id int NOT NULL, email text, status text)`);
    await fixture.sql(`INSERT INTO customers VALUES (1, 'a@x', 'active'), (2, 'b@x', 'active')`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': pgProject(fixture, { strategy: 'cdc' }) });
    const table = `${fixture.schema}.customers`;
    const first = await project.run();
    expect(first.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_replica_identity', value: table } });
    expect(first.steps[0]?.message).toBe(`${table} has no primary key and no replica identity: in a publication, PostgreSQL would refuse its UPDATEs and DELETEs, and the change stream could not say which row they changed.`);
    expect(first.steps[0]?.error?.hint).toBe(`Give it a primary key (ALTER TABLE "${fixture.schema}"."customers" ADD PRIMARY KEY (id)) or send whole old rows (ALTER TABLE "${fixture.schema}"."customers" REPLICA IDENTITY FULL), or use strategy 'snapshot' or 'cursor'.`);
    // plan says so before any run.
    const { plan, warehouse } = await project.open();
    expect((await previewRun(plan, warehouse))[0]).toMatchObject({
      reads: `nothing, the run will stop: ${first.steps[0]?.message} ${first.steps[0]?.error?.hint}`,
      stops: { code: 'cdc_replica_identity', message: first.steps[0]?.message, hint: first.steps[0]?.error?.hint },
    });
    await project.close();
    expect(await created()).toEqual({ slots: 0, pubs: 0 });
    await fixture.sql(`UPDATE customers SET status = 'paused' WHERE id = 1`);

    // The primary key is id, the warehouse's key is email: a delete would carry id alone, and silver could not apply it.
    await fixture.sql(`ALTER TABLE customers ADD PRIMARY KEY (id)`);
    await project.dispose();
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': pgProject(fixture, { strategy: 'cdc' }, { key: 'email' }) });
    const second = await project.run();
    expect(second.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_replica_identity' } });
    expect(second.steps[0]?.message).toBe(`${table}'s deletes carry only its replica identity (id), not email, the key of sources.crm: silver could not tell which row a delete removed.`);
    expect(second.steps[0]?.error?.hint).toContain(`REPLICA IDENTITY FULL`);
    expect(await created()).toEqual({ slots: 0, pubs: 0 });

    // With whole old rows sent, deletes carry email: the snapshot and the changes flow, a delete included.
    await fixture.sql(`ALTER TABLE customers REPLICA IDENTITY FULL`);
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: initial snapshot of 2 rows/);
    await fixture.sql(`DELETE FROM customers WHERE id = 2`);
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: 1 change up to /);
    expect(await project.rows(`SELECT email, _op FROM bronze.crm WHERE _batch_id = 2`)).toEqual([{ email: 'b@x', _op: 'delete' }]);
    // Checked on every read: back to the default identity, the next read stops before decoding anything.
    await fixture.sql(`ALTER TABLE customers REPLICA IDENTITY DEFAULT`);
    expect((await project.run()).steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_replica_identity' } });
  });

  it("cdc: a partitioned table's changes come under the table's own name, whichever partition they land in", async () => {
    fixture = new PgFixture();
    const slot = 'refinery_pgtest_crm';
    slots.push(slot);
    await fixture.sql(`CREATE TABLE customers (id int, region text, status text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)`);
    await fixture.sql(`CREATE TABLE customers_eu PARTITION OF customers FOR VALUES IN ('eu')`);
    await fixture.sql(`CREATE TABLE customers_us PARTITION OF customers FOR VALUES IN ('us')`);
    await fixture.sql(`INSERT INTO customers VALUES (1, 'eu', 'active'), (2, 'us', 'active')`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': pgProject(fixture, { strategy: 'cdc' }, { key: ['id', 'region'] }) });
    // A publication made by hand of one partition only: both of its problems are said at once, with both fixes.
    await fixture.sql(`CREATE PUBLICATION ${slot} FOR TABLE customers_eu`);
    const both = await project.run();
    expect(both.steps[0]?.message).toContain(`it publishes the changes of the partitions of ${fixture.schema}.customers under the partitions' names; it does not publish ${fixture.schema}.customers.`);
    expect(both.steps[0]?.error?.hint).toContain(`(ALTER PUBLICATION "${slot}" SET (publish_via_partition_root = true); ALTER PUBLICATION "${slot}" ADD TABLE "${fixture.schema}"."customers";)`);
    await fixture.sql(`DROP PUBLICATION ${slot}`);
    // A publication made by hand without publish_via_partition_root names each change's partition, not customers.
    await fixture.sql(`CREATE PUBLICATION ${slot} FOR TABLE customers`);
    const refused = await project.run();
    expect(refused.steps[0]?.message).toContain(`it publishes the changes of the partitions of ${fixture.schema}.customers under the partitions' names`);
    expect(refused.steps[0]?.error?.hint).toContain(`ALTER PUBLICATION "${slot}" SET (publish_via_partition_root = true);`);
    await fixture.sql(`DROP PUBLICATION ${slot}`);
    // The publication Refinery makes asks for the table's own name.
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: initial snapshot of 2 rows/);
    expect((await fixture.sql(`SELECT pubviaroot FROM pg_publication WHERE pubname = $1`, [slot])).rows).toEqual([{ pubviaroot: true }]);
    await fixture.sql(`INSERT INTO customers VALUES (3, 'eu', 'pending')`);
    await fixture.sql(`UPDATE customers SET status = 'paused' WHERE id = 2`);
    await fixture.sql(`DELETE FROM customers WHERE id = 1`);
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: 3 changes up to /);
    expect(await bronze('id, region, status, _op')).toEqual([
      { id: '1', region: 'eu', status: 'active', _op: 'insert' },
      { id: '2', region: 'us', status: 'active', _op: 'insert' },
      { id: '3', region: 'eu', status: 'pending', _op: 'insert' },
      { id: '2', region: 'us', status: 'paused', _op: 'update' },
      { id: '1', region: 'eu', status: null, _op: 'delete' },
    ]);
  });

  it("cdc: a partitioned table's replica identity is checked partition by partition: FULL on the parent alone does not reach them", async () => {
    fixture = new PgFixture();
    const slot = 'refinery_pgtest_crm';
    slots.push(slot);
    // No primary key; REPLICA IDENTITY FULL set on the parent only, which PostgreSQL does not pass on to partitions.
    await fixture.sql(`CREATE TABLE customers (id int NOT NULL, region text NOT NULL, status text) PARTITION BY LIST (region)`);
    await fixture.sql(`CREATE TABLE customers_eu PARTITION OF customers FOR VALUES IN ('eu')`);
    await fixture.sql(`CREATE TABLE customers_us PARTITION OF customers FOR VALUES IN ('us')`);
    await fixture.sql(`ALTER TABLE customers REPLICA IDENTITY FULL`);
    await fixture.sql(`INSERT INTO customers VALUES (1, 'eu', 'active'), (2, 'us', 'active')`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': pgProject(fixture, { strategy: 'cdc' }, { key: ['id', 'region'] }) });
    const s = fixture.schema;
    const refused = await project.run();
    expect(refused.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_replica_identity', value: `${s}.customers` } });
    expect(refused.steps[0]?.message).toBe(`2 partitions ${s}.customers_eu, ${s}.customers_us of ${s}.customers have no primary key and no replica identity (a partition does not inherit its parent's): in a publication, PostgreSQL would refuse UPDATEs and DELETEs of the rows there, and the change stream could not say which row they changed.`);
    expect(refused.steps[0]?.error?.hint).toBe(`Give the table a primary key, which every partition then has (ALTER TABLE "${s}"."customers" ADD PRIMARY KEY (id, region)), or send whole old rows from each partition (ALTER TABLE ${s}.customers_eu REPLICA IDENTITY FULL; ALTER TABLE ${s}.customers_us REPLICA IDENTITY FULL;), or use strategy 'snapshot' or 'cursor'.`);
    // Nothing was created, so the application's own updates still work.
    expect(await created()).toEqual({ slots: 0, pubs: 0 });
    await fixture.sql(`UPDATE customers SET status = 'paused' WHERE id = 2`);

    // The fix the hint gives: then the snapshot and the changes flow, a delete with its whole row.
    await fixture.sql(`ALTER TABLE customers_eu REPLICA IDENTITY FULL; ALTER TABLE customers_us REPLICA IDENTITY FULL`);
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: initial snapshot of 2 rows/);
    await fixture.sql(`DELETE FROM customers WHERE id = 1`);
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: 1 change up to /);
    expect(await bronze('id, region, status, _op')).toEqual([
      { id: '1', region: 'eu', status: 'active', _op: 'insert' },
      { id: '2', region: 'us', status: 'paused', _op: 'insert' },
      { id: '1', region: 'eu', status: 'active', _op: 'delete' },
    ]);

    // Checked on every read: a partition added since, without an identity, stops the next read with the new snapshot.
    await fixture.sql(`CREATE TABLE customers_apac PARTITION OF customers FOR VALUES IN ('apac')`);
    const later = await project.run();
    expect(later.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_replica_identity' } });
    expect(later.steps[0]?.message).toMatch(new RegExp(`^partition ${s}\\.customers_apac of ${s}\\.customers has no primary key`));
    expect(later.steps[0]?.error?.hint).toContain(`(ALTER TABLE ${s}.customers_apac REPLICA IDENTITY FULL;); then take a new snapshot, since changes made meanwhile lack it: refinery run --full-refresh --select bronze.crm+`);
    // Many such partitions: five are spelled out, and the hint says how to list the rest.
    for (const region of ['r1', 'r2', 'r3', 'r4', 'r5', 'r6']) await fixture.sql(`CREATE TABLE customers_${region} PARTITION OF customers FOR VALUES IN ('${region}')`);
    const many = await project.run();
    expect(many.steps[0]?.message).toMatch(new RegExp(`^7 partitions ${s}\\.customers_apac, ${s}\\.customers_r1, ${s}\\.customers_r2, ${s}\\.customers_r3, ${s}\\.customers_r4, \\.\\.\\. of ${s}\\.customers have no primary key`));
    expect(many.steps[0]?.error?.hint).toContain(`ALTER TABLE ${s}.customers_r4 REPLICA IDENTITY FULL; and the same for the 2 others, listed by SELECT l.relid FROM pg_partition_tree('"${s}"."customers"') l JOIN pg_class c ON c.oid = l.relid WHERE l.isleaf AND c.relreplident <> 'f')`);
  });

  it('cdc: a table with inheritance children, whose changes come under the children\'s names, stops before anything is created', async () => {
    fixture = new PgFixture();
    const slot = 'refinery_pgtest_crm';
    slots.push(slot);
    await fixture.sql(`CREATE TABLE customers (id int PRIMARY KEY, name text, status text, updated_at timestamp)`);
    await fixture.sql(`CREATE TABLE customers_archive () INHERITS (customers)`);
    await fixture.sql(`INSERT INTO customers VALUES (1, 'Ann', 'active', now()); INSERT INTO customers_archive VALUES (2, 'Bob', 'active', now())`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': pgProject(fixture, { strategy: 'cdc' }) });
    const s = fixture.schema;
    const refused = await project.run();
    expect(refused.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_inheritance_children', value: `${s}.customers` } });
    expect(refused.steps[0]?.message).toBe(`${s}.customers has an inheritance child (${s}.customers_archive): a read of ${s}.customers returns the child's rows too, but PostgreSQL publishes its changes under its own name, so the change stream would miss every change made there.`);
    expect(refused.steps[0]?.error?.hint).toBe(`Use strategy 'snapshot' or 'cursor' for sources.crm, which read the children's rows as the table does, or turn the children into partitions (a partitioned table's changes all come under its name).`);
    expect(await created()).toEqual({ slots: 0, pubs: 0 });
    // plan says so too.
    const { plan, warehouse } = await project.open();
    expect((await previewRun(plan, warehouse))[0]?.stops).toMatchObject({ code: 'cdc_inheritance_children' });
    await project.close();
    // Without the child, the same table takes its snapshot and streams.
    await fixture.sql(`DROP TABLE customers_archive`);
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: initial snapshot of 1 row/);
    await fixture.sql(`UPDATE customers SET status = 'paused' WHERE id = 1`);
    expect((await project.run()).steps[0]?.message).toMatch(/^cdc: 1 change up to /);
  });

  it('cdc: a transaction left open on the server fails the first run with its pid after a bounded wait, instead of hanging it', async () => {
    await setup({ strategy: 'cdc' });
    const slot = 'refinery_pgtest_crm';
    slots.push(slot);
    // Another session mid-transaction (it wrote, so it holds a transaction id) and then idle: slot creation waits for it.
    const other = new pg.Client({ connectionString: PG_URL });
    await other.connect();
    try {
      await other.query('BEGIN');
      const { rows } = await other.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid, txid_current()`);
      const pid = rows[0]?.pid as number;
      process.env.REFINERY_CDC_SLOT_WAIT_MS = '1500';
      const started = Date.now();
      // While it waits, the progress line says what for.
      const details: string[] = [];
      const failed = await project.run({ progress: (e) => void (e.type === 'step-detail' && details.push(e.detail)) });
      expect(details).toContain(`creating replication slot ${slot} (it waits for transactions open on the server to end)`);
      expect(Date.now() - started).toBeLessThan(20_000);
      // Other suites' transactions may be open at that moment too (the server is shared): they would be listed as well.
      expect(failed.steps[0]).toMatchObject({ status: 'failed', error: { code: 'cdc_slot_waits' } });
      expect(failed.steps[0]?.error?.hint).toMatch(/^End (it|them) \(COMMIT or ROLLBACK in that session, or SELECT pg_terminate_backend\(\d+\)\) and run again\.$/);
      expect(failed.steps[0]?.message).toMatch(
        new RegExp(`^The replication slot ${slot} could not be created within 2 s: PostgreSQL creates it only once every transaction open on the server has ended, and (this one|these) did not: .*pid ${pid} \\(idle in transaction, database \\w+, open since \\d{4}-\\d\\d-\\d\\d `),
      );
      expect((await fixture.sql(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1`, [slot])).rows[0]?.n).toBe(0);
      await other.query('ROLLBACK');
      expect((await project.run()).steps[0]?.message).toMatch(/^cdc: initial snapshot of 3 rows/);
    } finally {
      delete process.env.REFINERY_CDC_SLOT_WAIT_MS;
      await other.end();
    }
  });

  it('names a missing table in plan as in run, for every strategy, not as a server error', async () => {
    fixture = new PgFixture();
    await fixture.sql(`SELECT 1`);
    for (const load of [{ strategy: 'cdc' }, { strategy: 'cursor', cursor: 'updated_at' }, { strategy: 'full' }]) {
      project = TestProject.fromFiles(engine, {
        'refinery.config.ts': projectFile({ name: 'pgtest', sources: { crm: { kind: 'postgres', connection: { urlEnv: 'REFINERY_TEST_CRM_URL' }, table: `${fixture.schema}_nowhere.customers`, key: 'id', load: load as never } } }),
      });
      const plan = refinery(['plan', '--json'], { cwd: project.dir, env: { REFINERY_TEST_CRM_URL: PG_URL } });
      expect(plan.code, load.strategy).toBe(1);
      expect(JSON.parse(plan.stdout).error, load.strategy).toMatchObject({ code: 'source_table_missing', message: `The table ${fixture.schema}_nowhere.customers does not exist (or this user cannot see it).` });
      expect((await project.run()).steps[0], load.strategy).toMatchObject({ status: 'failed', error: { code: 'source_table_missing' } });
      await project.dispose();
    }
  });

  it('keeps secrets out of the warehouse and out of error messages', async () => {
    fixture = new PgFixture();
    await fixture.sql(`CREATE TABLE customers (id int PRIMARY KEY)`);
    process.env.REFINERY_TEST_BAD_URL = 'postgres://someone:Sup3rS3cret@127.0.0.1:1/nowhere';
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({ name: 'pgtest', sources: { crm: { kind: 'postgres', connection: { urlEnv: 'REFINERY_TEST_BAD_URL' }, table: 'customers', load: { strategy: 'full' } } } }),
    });
    const report = await project.run();
    expect(report.steps[0]?.status).toBe('failed');
    expect(JSON.stringify(report)).not.toContain('Sup3rS3cret');
    expect(report.steps[0]?.message).toContain('postgres://someone@127.0.0.1:1/nowhere');
    const everything = await project.rows(`SELECT string_agg(CAST(t AS VARCHAR), '|') AS all FROM (SELECT * FROM refinery.steps) t`);
    expect(String(everything[0]?.all)).not.toContain('Sup3rS3cret');
  });

  it('rejects a password written into the project file', async () => {
    fixture = new PgFixture();
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({ name: 'pgtest', sources: { crm: { kind: 'postgres', connection: { url: 'postgres://etl:hunter2@db/crm' }, table: 'customers' } } }),
    });
    const error = await project.open().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RefineryError);
    expect((error as RefineryError).issues[0]).toMatchObject({ code: 'config_secret_in_file', value: 'postgres://etl:***@db/crm' });
  });
});
