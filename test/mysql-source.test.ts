import { afterEach, describe, expect, it } from 'vitest';
import { RefineryError } from '../src/errors.js';
import { classifyError } from '../src/orchestrator/error-classification.js';
import { previewRun } from '../src/incremental/run-preview.js';
import { ENGINES } from './helpers/engines.js';
import { MYSQL_URL, MysqlFixture, requireMysql } from './helpers/mariadb.js';
import { projectFile } from './helpers/project-files.js';
import { TestProject } from './helpers/temp-project.js';

const run = await requireMysql('the MySQL/MariaDB source suites');
process.env.REFINERY_TEST_BILLING_URL = MYSQL_URL;

/** A project with one MySQL source (and optionally silver): these tests look at what lands in bronze and state. */
function mysqlProject(fixture: MysqlFixture, load: Record<string, unknown>, extra: Record<string, unknown> = {}, more: Record<string, unknown> = {}): string {
  return projectFile({
    name: 'mytest',
    sources: { billing: { kind: 'mysql', connection: { urlEnv: 'REFINERY_TEST_BILLING_URL' }, table: `${fixture.database}.accounts`, key: 'id', load: load as never, ...extra } },
    ...more,
  });
}

describe.runIf(run).each(ENGINES)('MySQL/MariaDB source on $name', (engine) => {
  let fixture: MysqlFixture;
  let project: TestProject;
  afterEach(async () => {
    await project?.dispose();
    await fixture?.dispose();
  });

  async function setup(load: Record<string, unknown>, extra: Record<string, unknown> = {}, more: Record<string, unknown> = {}): Promise<void> {
    fixture = new MysqlFixture();
    await fixture.sql(`CREATE TABLE accounts (id int PRIMARY KEY, name varchar(50), status varchar(20), balance decimal(12,2), modified datetime)`);
    await fixture.sql(`INSERT INTO accounts VALUES (1, 'Ann', 'active', 10.50, '2024-01-01 10:00:00'), (2, 'Bob', NULL, NULL, '2024-01-01 10:00:00'), (3, '', 'pending', 0, '2024-01-02 09:00:00')`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': mysqlProject(fixture, load, extra, more) });
  }

  const bronze = (cols = 'id, name, status, _op, _batch_id') => project.rows(`SELECT ${cols} FROM bronze.billing ORDER BY _batch_id, _source_row`);

  it('full: streams every row to bronze as the server prints it, keeping NULL and empty text apart', async () => {
    await setup({ strategy: 'full' });
    const report = await project.run();
    expect(report.status).toBe('success');
    expect(report.steps[0]?.message).toBe('full extract: 3 rows');
    expect(await bronze('id, name, status, balance, modified')).toEqual([
      { id: '1', name: 'Ann', status: 'active', balance: '10.50', modified: '2024-01-01 10:00:00' },
      { id: '2', name: 'Bob', status: null, balance: null, modified: '2024-01-01 10:00:00' },
      { id: '3', name: '', status: 'pending', balance: '0.00', modified: '2024-01-02 09:00:00' },
    ]);
    expect(await project.rows(`SELECT DISTINCT _source_file FROM bronze.billing`)).toEqual([{ _source_file: `mysql://root@127.0.0.1:3306/test#${fixture.database}.accounts (full extract)` }]);
    const second = await project.run();
    expect(second.steps[0]?.rowsIn).toBe(3);
    expect(await project.rows(`SELECT batch_id, load_kind, rows FROM refinery.batches ORDER BY batch_id`)).toEqual([
      { batch_id: 1, load_kind: 'full', rows: 3 },
      { batch_id: 2, load_kind: 'full', rows: 3 },
    ]);
  });

  it('full: values that are awkward in CSV arrive intact — quotes, commas, line breaks, a literal \\N, unicode, bytes, bits, JSON, TIMESTAMP in UTC', async () => {
    fixture = new MysqlFixture();
    await fixture.sql(`CREATE TABLE accounts (id int PRIMARY KEY, note text, raw varbinary(8), flag bit(3), doc json, seen timestamp NULL, big bigint unsigned, ratio double)`);
    await fixture.sql(`SET time_zone = '+02:00'`);
    await fixture.sql(`INSERT INTO accounts VALUES (1, 'say "hi", then\\nleave', X'00ff10', b'101', '{"a": [1, 2]}', '2024-03-01 12:00:00', 18446744073709551615, 0.1), (2, '\\\\N', '', b'0', NULL, NULL, 0, -1.5e300), (3, 'Zoë — ☕', NULL, NULL, '"x"', NULL, NULL, NULL)`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': mysqlProject(fixture, { strategy: 'full' }) });
    expect((await project.run()).status).toBe('success');
    expect(await project.rows(`SELECT id, note, raw, flag, doc, seen, big, ratio FROM bronze.billing ORDER BY _source_row`)).toEqual([
      { id: '1', note: 'say "hi", then\nleave', raw: '\\x00ff10', flag: '5', doc: '{"a": [1, 2]}', seen: '2024-03-01 10:00:00', big: '18446744073709551615', ratio: '0.1' },
      { id: '2', note: '\\N', raw: '\\x', flag: '0', doc: null, seen: null, big: '0', ratio: '-1.5e300' },
      { id: '3', note: 'Zoë — ☕', raw: null, flag: null, doc: '"x"', seen: null, big: null, ratio: null },
    ]);
  });

  it('full: 60,000 rows stream through the extract, staged in parts as they arrive, each arriving once, numbered in order', async () => {
    fixture = new MysqlFixture();
    await fixture.sql(`CREATE TABLE accounts (id int PRIMARY KEY, name varchar(40))`);
    await fixture.sql(`INSERT INTO accounts SELECT seq, concat('customer ', seq) FROM seq_1_to_60000`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': mysqlProject(fixture, { strategy: 'full' }) });
    // 64 KB parts: the extract is staged in about twenty parts while the rows still stream in.
    process.env.REFINERY_EXTRACT_PART_BYTES = String(64 << 10);
    const report = await project.run().finally(() => delete process.env.REFINERY_EXTRACT_PART_BYTES);
    expect(report.steps[0]?.rowsIn).toBe(60000);
    expect(await project.rows(`SELECT count(DISTINCT id) AS n, min(_source_row) AS lo, max(_source_row) AS hi FROM bronze.billing`)).toEqual([{ n: 60000, lo: 1, hi: 60000 }]);
  });

  it('full: a connection killed in the middle of the stream fails the attempt as retryable, and the retry loads everything once', async () => {
    fixture = new MysqlFixture();
    await fixture.sql(`CREATE TABLE accounts (id int PRIMARY KEY, name varchar(200))`);
    await fixture.sql(`INSERT INTO accounts SELECT seq, repeat('x', 100) FROM seq_1_to_100000`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': mysqlProject(fixture, { strategy: 'full' }, { retry: { attempts: 2, delay: '10ms' } }) });
    const running = project.run();
    let killed = false;
    for (let i = 0; i < 400 && !killed; i++) {
      const rows = (await fixture.sql(`SELECT ID AS id FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT \`id\`, \`name\` FROM %accounts%' AND ID <> CONNECTION_ID()`)) as { id: number }[];
      if (rows[0]) {
        await fixture.sql(`KILL ${Number(rows[0].id)}`);
        killed = true;
      } else await new Promise((r) => setTimeout(r, 5));
    }
    const report = await running;
    expect(killed).toBe(true);
    expect(report.steps[0]).toMatchObject({ status: 'success', attempts: 2, rowsIn: 100000 });
    expect(await project.rows(`SELECT retryable, error FROM refinery.attempts`)).toEqual([{ retryable: true, error: expect.stringMatching(/the connection failed|the query failed/) }]);
    expect(await project.rows(`SELECT count(*) AS n, count(DISTINCT id) AS ids FROM bronze.billing`)).toEqual([{ n: 100000, ids: 100000 }]);
  });

  it('cursor: reads from the watermark, re-reads rows on it without duplicating them, picks up a changed row and late rows within lag', async () => {
    await setup({ strategy: 'cursor', cursor: 'modified', lag: '1h' });
    const first = await project.run();
    expect(first.steps[0]?.message).toBe('cursor modified: 3 new or changed rows; watermark (none) → 2024-01-02 09:00:00');
    expect(await project.rows(`SELECT value FROM refinery.source_state WHERE name = 'watermark'`)).toEqual([{ value: '2024-01-02 09:00:00' }]);
    // A row sharing the watermark's time, a change, and a row committed late (30 min behind the watermark).
    await fixture.sql(`INSERT INTO accounts VALUES (4, 'Dee', 'active', 1, '2024-01-02 09:00:00'), (5, 'Late', 'active', 2, '2024-01-02 08:30:00')`);
    await fixture.sql(`UPDATE accounts SET status = 'suspended', modified = '2024-01-03 12:00:00' WHERE id = 1`);
    const second = await project.run();
    expect(second.steps[0]?.message).toBe('cursor modified: 3 new or changed rows; watermark 2024-01-02 09:00:00 → 2024-01-03 12:00:00');
    expect(await bronze('id, status, _batch_id')).toEqual([
      { id: '1', status: 'active', _batch_id: 1 },
      { id: '2', status: null, _batch_id: 1 },
      { id: '3', status: 'pending', _batch_id: 1 },
      { id: '5', status: 'active', _batch_id: 2 },
      { id: '4', status: 'active', _batch_id: 2 },
      { id: '1', status: 'suspended', _batch_id: 2 },
    ]);
    const third = await project.run();
    expect(third.steps[0]).toMatchObject({ status: 'skipped', rowsIn: 0 });
  });

  it('cursor: an integer cursor compares as a number, and several rows on the same value are all kept', async () => {
    fixture = new MysqlFixture();
    await fixture.sql(`CREATE TABLE accounts (id int PRIMARY KEY, version bigint, name varchar(10))`);
    await fixture.sql(`INSERT INTO accounts VALUES (1, 9, 'a'), (2, 10, 'b')`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': mysqlProject(fixture, { strategy: 'cursor', cursor: 'version' }) });
    await project.run();
    expect(await project.rows(`SELECT value FROM refinery.source_state WHERE name = 'watermark'`)).toEqual([{ value: '10' }]);
    // As text '9' > '10'; as numbers 10 ≥ 10 and 100 > 10. Two new rows share the watermark's value.
    await fixture.sql(`INSERT INTO accounts VALUES (3, 10, 'c'), (4, 10, 'd'), (5, 100, 'e')`);
    const second = await project.run();
    expect(second.steps[0]?.message).toBe('cursor version: 3 new or changed rows; watermark 10 → 100');
    expect(await project.rows(`SELECT id FROM bronze.billing WHERE _batch_id = 2 ORDER BY _source_row`)).toEqual([{ id: '3' }, { id: '4' }, { id: '5' }]);
  });

  it('cursor: rows committed while runs read the table are never stepped over', async () => {
    fixture = new MysqlFixture();
    await fixture.sql(`CREATE TABLE accounts (id int PRIMARY KEY AUTO_INCREMENT, modified datetime(6))`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': mysqlProject(fixture, { strategy: 'cursor', cursor: 'modified' }) });
    let stop = false;
    const writer = (async () => {
      let n = 0;
      // Each statement commits 100 rows with increasing times at once: a run that took the greatest time after
      // reading (rather than before) would step over the ones it had not read.
      const values = Array.from({ length: 100 }, (_, i) => `(NOW(6) + INTERVAL ${i} MICROSECOND)`).join(', ');
      while (!stop) {
        await fixture.sql(`INSERT INTO accounts (modified) VALUES ${values}`);
        n += 100;
      }
      return n;
    })();
    for (let i = 0; i < 8; i++) expect((await project.run()).status).toBe('success');
    stop = true;
    const inserted = await writer;
    await project.run();
    expect(await project.rows(`SELECT count(*) AS n, count(DISTINCT id) AS ids FROM bronze.billing`)).toEqual([{ n: inserted, ids: inserted }]);
    // `refinery plan` says what the next run would read, without reading it.
    const { plan, warehouse } = await project.open();
    const [preview] = await previewRun(plan, warehouse);
    expect(preview).toMatchObject({ kind: 'mysql', reads: expect.stringMatching(new RegExp(`^rows of ${fixture.database}\\.accounts with modified from \\d{4}-\\d\\d-\\d\\d .* up to `)) });
  });

  it('cursor: refuses lag on a cursor that is not a time', async () => {
    await setup({ strategy: 'cursor', cursor: 'id', lag: '1h' });
    const report = await project.run();
    expect(report.steps[0]).toMatchObject({ status: 'failed', error: { code: 'lag_needs_time_cursor' } });
  });

  it("snapshot: compares today's extract with the last one by key and row hash: inserts, updates, deletes", async () => {
    await setup({ strategy: 'snapshot' });
    await project.run();
    await fixture.sql(`UPDATE accounts SET status = 'suspended' WHERE id = 2`);
    await fixture.sql(`DELETE FROM accounts WHERE id = 3`);
    await fixture.sql(`INSERT INTO accounts VALUES (4, 'Dee', 'active', 5, '2024-01-05 00:00:00')`);
    // plan counts the rows the extract will read.
    const { plan, warehouse } = await project.open();
    expect((await previewRun(plan, warehouse))[0]?.reads).toBe(`all 3 rows of ${fixture.database}.accounts, compared by id with the last snapshot to find inserts, updates and deletes`);
    const second = await project.run();
    expect(second.steps[0]?.message).toBe('snapshot: 1 insert, 1 update, 1 delete');
    expect(await project.rows(`SELECT id, status, _op FROM bronze.billing WHERE _batch_id = 2 ORDER BY _source_row`)).toEqual([
      { id: '2', status: 'suspended', _op: 'update' },
      { id: '4', status: 'active', _op: 'insert' },
      { id: '3', status: null, _op: 'delete' },
    ]);
    const third = await project.run();
    expect(third.steps[0]?.message).toBe('snapshot: 0 inserts, 0 updates, 0 deletes');
  });

  it('snapshot → silver merge: a row deleted in MariaDB disappears from silver, a changed one is updated', async () => {
    await setup({ strategy: 'snapshot' }, {}, {
      silver: { accounts: { from: 'billing', columns: { id: { type: 'integer' }, status: { clean: ['trim', 'lower'] }, balance: { type: 'decimal(12,2)' } }, key: 'id' } },
    });
    await project.run();
    await fixture.sql(`UPDATE accounts SET status = 'SUSPENDED' WHERE id = 1`);
    await fixture.sql(`DELETE FROM accounts WHERE id = 2`);
    await project.run();
    expect(await project.rows(`SELECT id, status, CAST(balance AS VARCHAR) AS balance FROM silver.accounts ORDER BY id`)).toEqual([
      { id: 1, status: 'suspended', balance: '10.50' },
      { id: 3, status: 'pending', balance: '0.00' },
    ]);
    expect((await project.audit()).tables[0]?.balanced).toBe(true);
  });

  it('snapshot: stops with the key and rows when keys are duplicated', async () => {
    fixture = new MysqlFixture();
    await fixture.sql(`CREATE TABLE accounts (id int, name text)`);
    await fixture.sql(`INSERT INTO accounts VALUES (1, 'a'), (1, 'b'), (2, 'c')`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': mysqlProject(fixture, { strategy: 'snapshot' }) });
    const report = await project.run();
    expect(report.steps[0]).toMatchObject({ status: 'failed', error: { code: 'duplicate_key' } });
    expect(report.steps[0]?.message).toContain('id=1 (2 rows)');
  });

  it('names a missing table and a missing column', async () => {
    fixture = new MysqlFixture();
    await fixture.sql(`CREATE TABLE accounts (id int PRIMARY KEY)`);
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({
        name: 'mytest',
        sources: {
          gone: { kind: 'mysql', connection: { urlEnv: 'REFINERY_TEST_BILLING_URL' }, table: `${fixture.database}.nope` },
          billing: { kind: 'mysql', connection: { urlEnv: 'REFINERY_TEST_BILLING_URL' }, table: `${fixture.database}.accounts`, columns: ['id', 'name'] },
        },
      }),
    });
    // plan names the missing table as the run does, not as if it would read it.
    const { plan, warehouse } = await project.open();
    await expect(previewRun(plan, warehouse)).rejects.toMatchObject({ code: 'source_table_missing', data: { step: 'bronze.gone' } });
    const report = await project.run();
    expect(report.steps.find((s) => s.step === 'bronze.gone')).toMatchObject({ status: 'failed', error: { code: 'source_table_missing' } });
    expect(report.steps.find((s) => s.step === 'bronze.billing')).toMatchObject({ status: 'failed', error: { code: 'source_column_missing', value: 'name' } });
  });

  it('keeps secrets out of the warehouse and out of error messages; an unreachable server is worth a retry', async () => {
    process.env.REFINERY_TEST_BAD_MYSQL_URL = 'mysql://someone:Sup3rS3cret@127.0.0.1:1/nowhere';
    process.env.REFINERY_TEST_MYSQL_PASSWORD = 'An0therS3cret';
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({
        name: 'mytest',
        sources: {
          billing: { kind: 'mysql', connection: { urlEnv: 'REFINERY_TEST_BAD_MYSQL_URL' }, table: 'accounts', load: { strategy: 'full' } },
          // The right server, a wrong password: the server refuses, and the password is not in what it says.
          ledger: { kind: 'mysql', connection: { host: '127.0.0.1', user: 'refinery_nobody', passwordEnv: 'REFINERY_TEST_MYSQL_PASSWORD', database: 'test' }, table: 'accounts' },
        },
      }),
    });
    const report = await project.run();
    const billing = report.steps.find((s) => s.step === 'bronze.billing');
    expect(billing).toMatchObject({ status: 'failed', error: { code: 'source_unreachable' } });
    expect(billing?.message).toContain('mysql://someone@127.0.0.1:1/nowhere');
    expect(report.steps.find((s) => s.step === 'bronze.ledger')).toMatchObject({ status: 'failed', error: { code: 'source_unreachable' } });
    expect(classifyError(new RefineryError('pipeline', billing?.error as never))).toMatchObject({ retryable: true });
    const text = JSON.stringify(report);
    expect(text).not.toContain('Sup3rS3cret');
    expect(text).not.toContain('An0therS3cret');
    const everything = await project.rows(`SELECT string_agg(CAST(t AS VARCHAR), '|') AS all FROM (SELECT * FROM refinery.steps) t`);
    const attempts = await project.rows(`SELECT string_agg(CAST(t AS VARCHAR), '|') AS all FROM (SELECT * FROM refinery.attempts) t`);
    for (const stored of [everything, attempts]) {
      expect(String(stored[0]?.all)).not.toContain('Sup3rS3cret');
      expect(String(stored[0]?.all)).not.toContain('An0therS3cret');
    }
  });

  it('rejects a password written into the project file, and the cdc strategy', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({ name: 'mytest', sources: { billing: { kind: 'mysql', connection: { url: 'mysql://etl:hunter2@db/billing' }, table: 'accounts' } } }),
    });
    const error = await project.open().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RefineryError);
    expect((error as RefineryError).issues[0]).toMatchObject({ code: 'config_secret_in_file', value: 'mysql://etl:***@db/billing' });
    expect(JSON.stringify((error as RefineryError).issues)).not.toContain('hunter2');
    project.write('refinery.config.ts', projectFile({ name: 'mytest', sources: { ledger: { kind: 'mysql', table: 'ledger', key: 'id', load: { strategy: 'cdc' as never } } } }));
    const cdc = await project.open().catch((e: unknown) => e);
    expect((cdc as RefineryError).issues[0]).toMatchObject({ path: 'sources.ledger.load.strategy' });
  });
});
