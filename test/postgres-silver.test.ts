import { afterEach, describe, expect, it } from 'vitest';
import { traceRow } from '../src/lineage/row-trace.js';
import { ENGINES } from './helpers/engines.js';
import { projectFile } from './helpers/project-files.js';
import { PG_URL, PgFixture, requirePostgres } from './helpers/postgres.js';
import { TestProject } from './helpers/temp-project.js';

const run = await requirePostgres('the PostgreSQL → silver suites');
process.env.REFINERY_TEST_CRM_URL = PG_URL;

/** A CRM table in PostgreSQL refined into silver.customers with the given strategy and materialization. */
function project(fixture: PgFixture, strategy: string, silver: Record<string, unknown> = {}): string {
  return projectFile({
    name: 'pgsilver',
    sources: { crm: { kind: 'postgres', connection: { urlEnv: 'REFINERY_TEST_CRM_URL' }, table: `${fixture.schema}.customers`, key: 'id', load: { strategy: strategy as 'full' } } },
    silver: {
      customers: {
        from: 'crm',
        columns: { id: { type: 'integer' }, status: { clean: ['trim', 'lower'] }, updated_at: { type: 'timestamp' } },
        key: 'id',
        latest: 'updated_at',
        ...silver,
      },
    },
  });
}

describe.runIf(run).each(ENGINES)('PostgreSQL → silver on $name', (engine) => {
  let fixture: PgFixture;
  let p: TestProject;
  const slots: string[] = [];
  afterEach(async () => {
    await p?.dispose();
    await fixture?.dispose(slots.splice(0));
  });

  async function setup(strategy: string, silver: Record<string, unknown> = {}): Promise<void> {
    fixture = new PgFixture();
    await fixture.sql(`CREATE TABLE customers (id int PRIMARY KEY, status text, updated_at timestamp)`);
    await fixture.sql(`INSERT INTO customers VALUES (1, 'active', '2024-01-01'), (2, 'active', '2024-01-01'), (3, 'pending', '2024-01-01')`);
    p = TestProject.fromFiles(engine, { 'refinery.config.ts': project(fixture, strategy, silver) });
    if (strategy === 'cdc') slots.push('refinery_pgsilver_crm');
  }

  const silver = () => p.rows(`SELECT id, status FROM silver.customers ORDER BY id`);

  /**
   * A cdc source whose `notes` is stored out of line (EXTERNAL: no compression), so an update that leaves it alone
   * does not send it; silver keeps notes. Runs the initial snapshot of `rows` (a VALUES list).
   */
  async function setupLargeNotes(rows: string): Promise<void> {
    fixture = new PgFixture();
    await fixture.sql(`CREATE TABLE customers (id int PRIMARY KEY, status text, notes text, updated_at timestamp)`);
    await fixture.sql(`ALTER TABLE customers ALTER COLUMN notes SET STORAGE EXTERNAL`);
    await fixture.sql(`INSERT INTO customers VALUES ${rows}`);
    p = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({
        name: 'pgsilver',
        sources: { crm: { kind: 'postgres', connection: { urlEnv: 'REFINERY_TEST_CRM_URL' }, table: `${fixture.schema}.customers`, key: 'id', load: { strategy: 'cdc' } } },
        silver: { customers: { from: 'crm', columns: { id: { type: 'integer' }, status: {}, notes: {}, updated_at: { type: 'timestamp' } }, key: 'id', latest: 'updated_at' } },
      }),
    });
    slots.push('refinery_pgsilver_crm');
    await p.run();
  }

  it('cdc + merge: applies inserts, updates and deletes; a delete then a re-insert leaves the new row; an older version never overwrites', async () => {
    await setup('cdc');
    await p.run();
    await fixture.sql(`UPDATE customers SET status = 'suspended', updated_at = '2024-01-05' WHERE id = 1`);
    await fixture.sql(`DELETE FROM customers WHERE id = 2`);
    await fixture.sql(`DELETE FROM customers WHERE id = 3`);
    await fixture.sql(`INSERT INTO customers VALUES (3, 'active', '2024-01-06')`);
    await fixture.sql(`INSERT INTO customers VALUES (4, 'active', '2024-01-06')`);
    const second = await p.run();
    expect(second.steps.find((s) => s.step === 'silver.customers')?.message).toBe('merged new bronze batches; 2 deletes applied');
    expect(await silver()).toEqual([
      { id: 1, status: 'suspended' },
      { id: 3, status: 'active' },
      { id: 4, status: 'active' },
    ]);
    // A change carrying an older version than silver holds (updated_at moved back) does not overwrite it.
    await fixture.sql(`UPDATE customers SET status = 'inactive', updated_at = '2024-01-02' WHERE id = 1`);
    await p.run();
    expect((await silver())[0]).toEqual({ id: 1, status: 'suspended' });
    const audit = await p.audit();
    expect(audit.tables[0]).toMatchObject({ bronze: 9, silver: 3, deleteMarkers: 2, balanced: true });
    // `refinery trace` says what removed a deleted key's rows (audit counts them as accounted for, so must trace).
    const { plan, warehouse } = await p.open();
    const fates = async (id: string) => (await traceRow(plan, warehouse, 'silver.customers', [id])).silver[0]?.bronze.map((b) => [b.batchId, b.sourceRow, b.fate]);
    expect(await fates('2')).toEqual([
      [1, 2, { kind: 'deleted', by: { batchId: 2, sourceFile: expect.any(String), sourceRow: 2 } }],
      [2, 2, { kind: 'delete_marker' }],
    ]);
    expect(await fates('3')).toEqual([
      [1, 3, { kind: 'deleted', by: { batchId: 2, sourceFile: expect.any(String), sourceRow: 3 } }],
      [2, 3, { kind: 'delete_marker' }],
      [2, 4, { kind: 'in_silver' }],
    ]);
    expect(await fates('1')).toEqual([
      [1, 1, { kind: 'superseded', by: { batchId: 2, sourceFile: expect.any(String), sourceRow: 1 } }],
      [2, 1, { kind: 'in_silver' }],
      [3, 1, { kind: 'superseded', by: { batchId: 2, sourceFile: expect.any(String), sourceRow: 1 } }],
    ]);
    // Incremental equals a full rebuild.
    const incremental = await p.rows(`SELECT * FROM silver.customers ORDER BY id`);
    await p.run({ fullRefresh: true, select: ['silver.customers'] });
    expect(await p.rows(`SELECT * FROM silver.customers ORDER BY id`)).toEqual(incremental);
  });

  it('full + merge: each full extract replaces the previous one, so rows deleted at the source disappear', async () => {
    await setup('full');
    await p.run();
    await fixture.sql(`DELETE FROM customers WHERE id = 2`);
    const second = await p.run();
    expect(second.steps.find((s) => s.step === 'silver.customers')?.message).toBe('bronze batch 1 replaced by a newer version: rebuilt from bronze');
    expect(await silver()).toEqual([
      { id: 1, status: 'active' },
      { id: 3, status: 'pending' },
    ]);
    expect((await p.audit()).tables[0]).toMatchObject({ bronze: 5, silver: 2, replaced: 3, balanced: true });
  });

  it('snapshot + soft deletes: a deleted row stays, flagged _deleted, and comes back if re-inserted', async () => {
    await setup('snapshot', { deletes: 'soft' });
    await p.run();
    await fixture.sql(`DELETE FROM customers WHERE id = 2`);
    await p.run();
    expect(await p.rows(`SELECT id, _deleted FROM silver.customers ORDER BY id`)).toEqual([
      { id: 1, _deleted: false },
      { id: 2, _deleted: true },
      { id: 3, _deleted: false },
    ]);
    await fixture.sql(`INSERT INTO customers VALUES (2, 'active', '2023-12-01')`);
    await p.run();
    expect(await p.rows(`SELECT id, _deleted FROM silver.customers WHERE id = 2`)).toEqual([{ id: 2, _deleted: false }]);
    expect((await p.audit()).tables[0]?.balanced).toBe(true);
  });

  it('cdc: an update that changes the key removes the old key from silver; with REPLICA IDENTITY FULL too, other updates stay updates', async () => {
    await setup('cdc');
    await p.run();
    await fixture.sql(`UPDATE customers SET id = 10, status = 'moved', updated_at = '2024-01-02' WHERE id = 1`);
    await fixture.sql(`ALTER TABLE customers REPLICA IDENTITY FULL`);
    await fixture.sql(`UPDATE customers SET id = 20, updated_at = '2024-01-02' WHERE id = 2`);
    await fixture.sql(`UPDATE customers SET status = 'paused', updated_at = '2024-01-02' WHERE id = 3`);
    const second = await p.run();
    expect(second.steps[0]?.message).toMatch(/^cdc: 5 changes up to /);
    expect(await p.rows(`SELECT id, status, _op FROM bronze.crm WHERE _batch_id = 2 ORDER BY _source_row`)).toEqual([
      { id: '1', status: null, _op: 'delete' },
      { id: '10', status: 'moved', _op: 'insert' },
      // A full old row comes with the delete of the old key.
      { id: '2', status: 'active', _op: 'delete' },
      { id: '20', status: 'active', _op: 'insert' },
      { id: '3', status: 'paused', _op: 'update' },
    ]);
    expect(await silver()).toEqual([
      { id: 3, status: 'paused' },
      { id: 10, status: 'moved' },
      { id: 20, status: 'active' },
    ]);
    expect((await p.audit()).tables[0]?.balanced).toBe(true);
  });

  it('cdc: a large value an update did not touch (TOASTed, so not sent) keeps its value, in bronze and silver', async () => {
    await setupLargeNotes(`(1, 'active', repeat('a', 5000), '2024-01-01'), (2, 'active', repeat('b', 5000), '2024-01-01'), (3, 'active', NULL, '2024-01-01')`);
    // Across runs: 1's notes untouched. Within one batch: 2 updated twice without notes, around an update that sets them.
    await fixture.sql(`UPDATE customers SET status = 'churned', updated_at = '2024-01-02' WHERE id = 1`);
    await fixture.sql(`UPDATE customers SET status = 'paused', updated_at = '2024-01-02' WHERE id = 2`);
    await fixture.sql(`UPDATE customers SET notes = repeat('c', 5000), updated_at = '2024-01-03' WHERE id = 2`);
    await fixture.sql(`UPDATE customers SET status = 'active', updated_at = '2024-01-04' WHERE id = 2`);
    await fixture.sql(`UPDATE customers SET status = 'paused', updated_at = '2024-01-02' WHERE id = 3`);
    await p.run();
    await fixture.sql(`UPDATE customers SET status = 'active', updated_at = '2024-01-05' WHERE id = 1`);
    await p.run();
    const notes = (table: string) => p.rows(`SELECT CAST(id AS VARCHAR) AS id, status, left(notes, 1) AS n, length(notes) AS len FROM ${table} ORDER BY ${table.startsWith('bronze') ? '_batch_id, _source_row' : 'id'}`);
    expect(await notes('bronze.crm')).toEqual([
      { id: '1', status: 'active', n: 'a', len: 5000 },
      { id: '2', status: 'active', n: 'b', len: 5000 },
      { id: '3', status: 'active', n: null, len: null },
      { id: '1', status: 'churned', n: 'a', len: 5000 },
      { id: '2', status: 'paused', n: 'b', len: 5000 },
      { id: '2', status: 'paused', n: 'c', len: 5000 },
      { id: '2', status: 'active', n: 'c', len: 5000 },
      { id: '3', status: 'paused', n: null, len: null },
      { id: '1', status: 'active', n: 'a', len: 5000 },
    ]);
    expect(await notes('silver.customers')).toEqual([
      { id: '1', status: 'active', n: 'a', len: 5000 },
      { id: '2', status: 'active', n: 'c', len: 5000 },
      { id: '3', status: 'paused', n: null, len: null },
    ]);
  });

  it('cdc: an update that changes the key keeps the large values it did not send, from the old key', async () => {
    await setupLargeNotes(
      `(1, 'active', repeat('a', 5000), '2024-01-01'), (2, 'active', repeat('b', 5000), '2024-01-01'), (3, 'active', repeat('c', 5000), '2024-01-01'), (30, 'active', repeat('z', 5000), '2024-01-01')`,
    );
    await fixture.sql(`DELETE FROM customers WHERE id = 30`);
    await p.run();
    // 1 moves to 10 and, in the same read, on to 20, then changes status: a chain of key changes, none sending notes.
    // 2 moves to 30, a key whose earlier row (notes 'z') was deleted: that row's notes must not come back.
    // 3 changes status first, then key: its notes come from the read's own earlier change.
    await fixture.sql(`UPDATE customers SET id = 10, updated_at = '2024-01-02' WHERE id = 1`);
    await fixture.sql(`UPDATE customers SET id = 20, updated_at = '2024-01-03' WHERE id = 10`);
    await fixture.sql(`UPDATE customers SET status = 'paused', updated_at = '2024-01-04' WHERE id = 20`);
    await fixture.sql(`UPDATE customers SET id = 30, updated_at = '2024-01-02' WHERE id = 2`);
    await fixture.sql(`UPDATE customers SET status = 'paused', updated_at = '2024-01-02' WHERE id = 3`);
    await fixture.sql(`UPDATE customers SET id = 40, updated_at = '2024-01-03' WHERE id = 3`);
    await p.run();
    const rows = (table: string, where = '') => p.rows(`SELECT CAST(id AS VARCHAR) AS id, status, left(notes, 1) AS n, length(notes) AS len FROM ${table} ${where} ORDER BY ${table.startsWith('bronze') ? '_batch_id, _source_row' : 'id'}`);
    expect(await rows('silver.customers')).toEqual([
      { id: '20', status: 'paused', n: 'a', len: 5000 },
      { id: '30', status: 'active', n: 'b', len: 5000 },
      { id: '40', status: 'paused', n: 'c', len: 5000 },
    ]);
    // Bronze holds every change with its values: each new key's row has the notes it carried over.
    expect(await rows('bronze.crm', `WHERE _batch_id = (SELECT max(_batch_id) FROM bronze.crm) AND _op <> 'delete'`)).toEqual([
      { id: '10', status: 'active', n: 'a', len: 5000 },
      { id: '20', status: 'active', n: 'a', len: 5000 },
      { id: '20', status: 'paused', n: 'a', len: 5000 },
      { id: '30', status: 'active', n: 'b', len: 5000 },
      { id: '3', status: 'paused', n: 'c', len: 5000 },
      { id: '40', status: 'paused', n: 'c', len: 5000 },
    ]);
  });

  it('cdc + scd2: daily status changes become history; a delete closes the current version', async () => {
    await setup('cdc', { materialize: 'scd2' });
    await p.run();
    await fixture.sql(`UPDATE customers SET status = 'suspended', updated_at = '2024-01-02' WHERE id = 1`);
    await fixture.sql(`DELETE FROM customers WHERE id = 3`);
    await p.run();
    const history = await p.rows(`SELECT id, status, CAST(valid_from AS VARCHAR) AS vf, valid_to IS NULL AS open, is_current FROM silver.customers ORDER BY id, valid_from`);
    expect(history).toEqual([
      { id: 1, status: 'active', vf: '2024-01-01 00:00:00', open: false, is_current: false },
      { id: 1, status: 'suspended', vf: '2024-01-02 00:00:00', open: true, is_current: true },
      { id: 2, status: 'active', vf: '2024-01-01 00:00:00', open: true, is_current: true },
      { id: 3, status: 'pending', vf: '2024-01-01 00:00:00', open: false, is_current: false },
    ]);
  });
});
