import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import { projectFile } from './helpers/project-files.js';
import { PG_URL, PgFixture, requirePostgres } from './helpers/postgres.js';
import { TestProject } from './helpers/temp-project.js';

const withPostgres = await requirePostgres('the scd2 change-stream (PostgreSQL source) tests');
process.env.REFINERY_TEST_SCD2_URL = PG_URL;

/** Daily customer status updates, kept as history: every status a customer ever had, and when. */
function statusProject(): string {
  return projectFile({
    name: 'history',
    sources: { status: { path: 'landing/status/*.csv', columns: ['customer_id', 'status', 'updated_at'] } },
    silver: {
      status_history: {
        from: 'status',
        columns: { customer_id: { type: 'integer', clean: ['trim'] }, status: { clean: ['trim', 'lower'] }, updated_at: { type: 'timestamp' } },
        checks: [{ name: 'invalid_customer_id', column: 'customer_id', rule: { min: 1 } }],
        key: 'customer_id',
        latest: 'updated_at',
        materialize: 'scd2',
      },
    },
  });
}

const day = (rows: string[]): string => `customer_id,status,updated_at\n${rows.join('\n')}\n`;

describe.each(ENGINES)('scd2 history on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  const history = () =>
    project.rows(`SELECT customer_id, status, CAST(valid_from AS VARCHAR) AS valid_from, CAST(valid_to AS VARCHAR) AS valid_to, is_current FROM silver.status_history ORDER BY customer_id, valid_from`);

  it('keeps every version with valid_from, valid_to and is_current; re-applied changes add nothing; late changes slot in', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': statusProject(),
      'landing/status/day1.csv': day(['1,active,2024-01-01 00:00:00', '2,active,2024-01-01 00:00:00']),
    });
    await project.run();
    project.write('landing/status/day2.csv', day(['1,suspended,2024-01-02 00:00:00', '2,ACTIVE,2024-01-02 00:00:00']));
    await project.run();
    expect(await history()).toEqual([
      { customer_id: 1, status: 'active', valid_from: '2024-01-01 00:00:00', valid_to: '2024-01-02 00:00:00', is_current: false },
      { customer_id: 1, status: 'suspended', valid_from: '2024-01-02 00:00:00', valid_to: null, is_current: true },
      // 'ACTIVE' cleans to 'active' but its updated_at differs, so it is a new version of the same state.
      { customer_id: 2, status: 'active', valid_from: '2024-01-01 00:00:00', valid_to: '2024-01-02 00:00:00', is_current: false },
      { customer_id: 2, status: 'active', valid_from: '2024-01-02 00:00:00', valid_to: null, is_current: true },
    ]);
    // The same change delivered again (another file, identical rows) creates no version.
    project.write('landing/status/day2-resent.csv', day(['1,suspended,2024-01-02 00:00:00']));
    const resent = await project.run();
    expect(resent.steps.find((s) => s.step === 'silver.status_history')).toMatchObject({ rowsIn: 1, rowsWritten: 0, rowsSuperseded: 1 });
    expect((await history()).length).toBe(4);
    // A change that arrives late, between two known versions, slots into place.
    project.write('landing/status/late.csv', day(['1,pending,2024-01-01 12:00:00']));
    await project.run();
    expect((await history()).filter((r) => r.customer_id === 1)).toEqual([
      { customer_id: 1, status: 'active', valid_from: '2024-01-01 00:00:00', valid_to: '2024-01-01 12:00:00', is_current: false },
      { customer_id: 1, status: 'pending', valid_from: '2024-01-01 12:00:00', valid_to: '2024-01-02 00:00:00', is_current: false },
      { customer_id: 1, status: 'suspended', valid_from: '2024-01-02 00:00:00', valid_to: null, is_current: true },
    ]);
    const audit = await project.audit();
    expect(audit.tables[0]).toMatchObject({ bronze: 6, silver: 5, superseded: 1, balanced: true });
    // Incremental equals a rebuild from scratch.
    const incremental = await history();
    await project.run({ fullRefresh: true });
    expect(await history()).toEqual(incremental);
  });
});

/** A PostgreSQL table of customers, kept as history in silver.customers from its change stream. */
function changeStreamProject(fixture: PgFixture, strategy: 'cdc' | 'snapshot'): string {
  return projectFile({
    name: `scd2${strategy}`,
    sources: { crm: { kind: 'postgres', connection: { urlEnv: 'REFINERY_TEST_SCD2_URL' }, table: `${fixture.schema}.customers`, key: 'id', load: { strategy } } },
    silver: {
      customers: {
        from: 'crm',
        columns: { id: { type: 'integer' }, status: { clean: ['trim', 'lower'] }, updated_at: { type: 'timestamp' } },
        key: 'id',
        latest: 'updated_at',
        materialize: 'scd2',
      },
    },
  });
}

describe.runIf(withPostgres).each(ENGINES)('scd2 history from a change stream on $name', (engine) => {
  let fixture: PgFixture;
  let project: TestProject;
  const slots: string[] = [];
  afterEach(async () => {
    await project?.dispose();
    await fixture?.dispose(slots.splice(0));
  });

  async function setup(strategy: 'cdc' | 'snapshot'): Promise<void> {
    fixture = new PgFixture();
    await fixture.sql(`CREATE TABLE customers (id int PRIMARY KEY, status text, updated_at timestamp)`);
    await fixture.sql(`INSERT INTO customers VALUES (1, 'active', '2024-01-01'), (2, 'active', '2024-01-01'), (3, 'pending', '2024-01-01')`);
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': changeStreamProject(fixture, strategy) });
    if (strategy === 'cdc') slots.push(`refinery_scd2${strategy}_crm`);
    await project.run();
  }

  const history = () =>
    project.rows(`SELECT id, status, CAST(valid_from AS VARCHAR) AS valid_from, CAST(valid_to AS VARCHAR) AS valid_to, is_current FROM silver.customers ORDER BY id, valid_from, valid_to NULLS LAST`);

  // Deletes carry no business time (their `latest` is empty, or the old row's): the change stream orders them.
  it('cdc: a delete closes the current version where it happened; a re-insert, in the same batch or a later one, is current', async () => {
    await setup('cdc');
    // Same batch: key 1 is deleted and re-inserted; key 2 is deleted; key 3 changes twice, the second change re-applied.
    await fixture.sql(`DELETE FROM customers WHERE id = 1`);
    await fixture.sql(`INSERT INTO customers VALUES (1, 'active', '2024-01-06')`);
    await fixture.sql(`DELETE FROM customers WHERE id = 2`);
    await fixture.sql(`UPDATE customers SET status = 'active', updated_at = '2024-01-02' WHERE id = 3`);
    await fixture.sql(`UPDATE customers SET status = 'active' WHERE id = 3`);
    await project.run();
    // A later batch: key 2 comes back, with a business time long before this run's ingestion time.
    await fixture.sql(`INSERT INTO customers VALUES (2, 'suspended', '2024-01-03')`);
    await project.run();
    // Then an older change (updated_at moved back) arrives for key 1: it slots in, it does not become current.
    await fixture.sql(`UPDATE customers SET status = 'inactive', updated_at = '2024-01-04' WHERE id = 1`);
    await project.run();
    expect(await history()).toEqual([
      { id: 1, status: 'active', valid_from: '2024-01-01 00:00:00', valid_to: '2024-01-04 00:00:00', is_current: false },
      { id: 1, status: 'inactive', valid_from: '2024-01-04 00:00:00', valid_to: '2024-01-06 00:00:00', is_current: false },
      { id: 1, status: 'active', valid_from: '2024-01-06 00:00:00', valid_to: null, is_current: true },
      { id: 2, status: 'active', valid_from: '2024-01-01 00:00:00', valid_to: '2024-01-03 00:00:00', is_current: false },
      { id: 2, status: 'suspended', valid_from: '2024-01-03 00:00:00', valid_to: null, is_current: true },
      { id: 3, status: 'pending', valid_from: '2024-01-01 00:00:00', valid_to: '2024-01-02 00:00:00', is_current: false },
      { id: 3, status: 'active', valid_from: '2024-01-02 00:00:00', valid_to: null, is_current: true },
    ]);
    expect((await project.audit()).tables[0]).toMatchObject({ deleteMarkers: 2, balanced: true });
    // A run with nothing new changes nothing; incremental equals a rebuild from scratch.
    const incremental = await project.rows(`SELECT * FROM silver.customers ORDER BY id, valid_from`);
    await project.run();
    await project.run({ fullRefresh: true, select: ['silver.customers'] });
    expect(await project.rows(`SELECT * FROM silver.customers ORDER BY id, valid_from`)).toEqual(incremental);
  });

  it('snapshot: a key deleted in one extract and back in a later one closes, then opens a current version', async () => {
    await setup('snapshot');
    await fixture.sql(`DELETE FROM customers WHERE id = 2`);
    await project.run();
    const closed = await history();
    expect(closed.filter((r) => r.id === 2)).toMatchObject([{ status: 'active', valid_from: '2024-01-01 00:00:00', is_current: false }]);
    expect(closed.find((r) => r.id === 2)?.valid_to).not.toBeNull();
    await fixture.sql(`INSERT INTO customers VALUES (2, 'active', '2024-01-03')`);
    await project.run();
    expect((await history()).filter((r) => r.id === 2)).toEqual([
      { id: 2, status: 'active', valid_from: '2024-01-01 00:00:00', valid_to: '2024-01-03 00:00:00', is_current: false },
      { id: 2, status: 'active', valid_from: '2024-01-03 00:00:00', valid_to: null, is_current: true },
    ]);
    expect((await project.audit()).tables[0]?.balanced).toBe(true);
  });
});
