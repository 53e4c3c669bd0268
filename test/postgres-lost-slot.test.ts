import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { previewRun } from '../src/incremental/run-preview.js';
import { ENGINES } from './helpers/engines.js';
import { serverBinaries, startPrivatePostgres, type PrivatePostgres } from './helpers/private-postgres.js';
import { projectFile } from './helpers/project-files.js';
import { TestProject } from './helpers/temp-project.js';

// The server invalidates a slot that holds more WAL than max_slot_wal_keep_size, at a checkpoint (max_wal_size is
// large so that only the test's CHECKPOINT makes one). On the shared server that setting would invalidate other
// suites' slots too, so this suite starts a server of its own.
const bin = serverBinaries();
if (!bin) {
  if (process.env.CI) throw new Error('CI=true but the lost-slot suite cannot run: no PostgreSQL server binaries under /usr/lib/postgresql.');
  console.warn('\n⚠️  SKIPPING the lost-slot suite: no PostgreSQL server binaries under /usr/lib/postgresql to start a private server with.\n');
}

describe.runIf(bin !== undefined).each(ENGINES)('cdc: a slot the server invalidated, on $name', (engine) => {
  let server: PrivatePostgres | undefined;
  let admin: pg.Client;
  beforeAll(async () => {
    server = await startPrivatePostgres({ wal_level: 'logical', max_slot_wal_keep_size: '1MB', max_wal_size: '256MB', min_wal_size: '32MB' });
    process.env.REFINERY_TEST_LOST_SLOT_URL = server.url;
    admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end().catch(() => undefined);
    server?.stop();
  });

  it('stops the read with what happened and the new snapshot that recovers, which then streams again; plan says so first', async () => {
    await admin.query(`CREATE TABLE customers (id int PRIMARY KEY, status text)`);
    await admin.query(`INSERT INTO customers VALUES (1, 'active'), (2, 'active')`);
    const project = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({ name: 'lostslot', sources: { crm: { kind: 'postgres', connection: { urlEnv: 'REFINERY_TEST_LOST_SLOT_URL' }, table: 'public.customers', key: 'id', load: { strategy: 'cdc' } } } }),
    });
    try {
      expect((await project.run()).steps[0]?.message).toMatch(/^cdc: initial snapshot of 2 rows/);
      const stored = (await project.rows(`SELECT value FROM refinery.source_state WHERE name = 'cdc_lsn'`))[0]?.value as string;
      // A change, then more WAL than the slot may keep (other writes, in new segments), then a checkpoint.
      await admin.query(`UPDATE customers SET status = 'paused' WHERE id = 1`);
      await admin.query(`CREATE TABLE filler (id int, v text)`);
      const moreWal = async () => {
        await admin.query(`INSERT INTO filler SELECT g, repeat('x', 100) FROM generate_series(1, 20000) AS g`);
        await admin.query(`SELECT pg_switch_wal()`);
      };
      await moreWal();
      // Past the limit but not yet removed (no checkpoint since): a run could still read it, and plan says so.
      expect((await admin.query(`SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'refinery_lostslot_crm'`)).rows).toEqual([{ wal_status: 'unreserved' }]);
      const before = await project.open();
      expect((await previewRun(before.plan, before.warehouse))[0]?.reads).toMatch(
        /: 0 inserts, 1 update, 0 deletes \(decoding [^)]+\); the server is about to remove WAL this slot still needs \(past max_slot_wal_keep_size\): run it now, or the next run will need a new snapshot$/,
      );
      await moreWal();
      await moreWal();
      await admin.query(`CHECKPOINT`);
      expect((await admin.query(`SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'refinery_lostslot_crm'`)).rows).toEqual([{ wal_status: 'lost' }]);

      const message = `The server invalidated replication slot refinery_lostslot_crm: it kept more WAL than the server's max_slot_wal_keep_size allows, so the changes after ${stored} are lost to it.`;
      const hint = 'Take a new snapshot: refinery run --full-refresh --select bronze.crm+. So that it does not happen again, run the source before that much WAL piles up, or raise max_slot_wal_keep_size.';
      const { plan, warehouse } = await project.open();
      expect((await previewRun(plan, warehouse))[0]).toMatchObject({ reads: `nothing, the run will stop: ${message} ${hint}`, stops: { code: 'cdc_slot_lost', message, hint } });
      const failed = await project.run();
      expect(failed.steps[0]).toMatchObject({ status: 'failed', message, error: { code: 'cdc_slot_lost', hint } });

      // The new snapshot has the change the slot lost, and the stream goes on from there.
      const again = await project.run({ fullRefresh: true });
      expect(again.steps[0]?.message).toMatch(/^cdc: initial snapshot of 2 rows; slot refinery_lostslot_crm created at \S+ \(the previous slot was dropped first: a new snapshot starts a new stream\)$/);
      await admin.query(`DELETE FROM customers WHERE id = 2`);
      expect((await project.run()).steps[0]?.message).toMatch(/^cdc: 1 change up to /);
      expect(await project.rows(`SELECT id, status, _op, _batch_id FROM bronze.crm WHERE _batch_id > 1 ORDER BY _batch_id, id`)).toEqual([
        { id: '1', status: 'paused', _op: 'insert', _batch_id: 2 },
        { id: '2', status: 'active', _op: 'insert', _batch_id: 2 },
        { id: '2', status: null, _op: 'delete', _batch_id: 3 },
      ]);
    } finally {
      await project.dispose();
    }
  });
});
