import { describe, expect, it } from 'vitest';
import { DuckDBWarehouse } from '../src/warehouse/duckdb/duckdb-warehouse.js';
import { ddlTargets } from '../src/warehouse/duckdb/schema-cache.js';

const names = (w: DuckDBWarehouse, table: string, session?: Parameters<DuckDBWarehouse['introspector']['columns']>[2]) => w.introspector.columns('s', table, session).then((cols) => cols.map((c) => c.name));

/** An in-memory warehouse with schema `s` and the given tables, closed after `work`. */
async function withWarehouse(tables: readonly string[], work: (w: DuckDBWarehouse) => Promise<void>): Promise<void> {
  const w = await DuckDBWarehouse.open({ path: ':memory:' });
  try {
    await w.execute('CREATE SCHEMA s');
    for (const table of tables) await w.execute(`CREATE TABLE s.${table}`);
    await work(w);
  } finally {
    await w.close();
  }
}

describe('the column cache never answers with a schema the asker would not see', () => {
  it('names the tables a statement changes, and gives up (all) when it cannot', () => {
    expect(ddlTargets('ALTER TABLE "silver"."Customers" ADD COLUMN x INT')).toEqual(new Set(['silver.customers']));
    expect(ddlTargets('CREATE OR REPLACE TABLE gold.c360 AS SELECT 1')).toEqual(new Set(['gold.c360']));
    expect(ddlTargets('create table if not exists refinery.files (a int)')).toEqual(new Set(['refinery.files']));
    expect(ddlTargets('DROP VIEW IF EXISTS "my db"."s"."v"')).toEqual(new Set(['s.v']));
    expect(ddlTargets('DROP TABLE win_customers_2')).toEqual(new Set(['main.win_customers_2']));
    expect(ddlTargets('CREATE TEMP TABLE "stg" AS SELECT 1')).toBeUndefined();
    expect(ddlTargets('CREATE OR REPLACE TEMPORARY VIEW v AS SELECT 1')).toBeUndefined();
    expect(ddlTargets('CREATE SCHEMA IF NOT EXISTS gold')).toBe('all');
    expect(ddlTargets('INSERT INTO t VALUES (1); ALTER TABLE t ADD COLUMN y INT')).toBe('all');
    expect(ddlTargets("INSERT INTO t SELECT 'CREATE TABLE'")).toBeUndefined();
    expect(ddlTargets('SELECT * FROM silver.customers')).toBeUndefined();
    expect(ddlTargets('-- widen it\n/* see #6 */ ALTER TABLE gold.x ALTER y TYPE BIGINT')).toEqual(new Set(['gold.x']));
  });

  it('sees a column added outside a transaction, and one added and rolled back inside one', async () => {
    await withWarehouse(['t (a INT)'], async (w) => {
      expect(await names(w, 't')).toEqual(['a']);
      await w.execute('ALTER TABLE s.t ADD COLUMN b INT');
      expect(await names(w, 't')).toEqual(['a', 'b']);

      await expect(
        w.transaction(async (tx) => {
          await tx.execute('ALTER TABLE s.t ADD COLUMN c INT');
          // Inside: its own change. Outside, meanwhile: the committed schema, not the pending one.
          expect(await names(w, 't', tx)).toEqual(['a', 'b', 'c']);
          expect(await names(w, 't')).toEqual(['a', 'b']);
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await names(w, 't')).toEqual(['a', 'b']);

      await w.transaction(async (tx) => {
        await tx.execute('ALTER TABLE s.t ADD COLUMN d INT');
    });
    expect(await names(w, 't')).toEqual(['a', 'b', 'd']);
    // Making sure a known table exists changes nothing, and a missing one made that way is seen at once.
    await w.transaction(async (tx) => {
      await tx.execute('CREATE TABLE IF NOT EXISTS s.t (z INT)');
      await tx.execute('CREATE TABLE IF NOT EXISTS s.u (z INT)');
      expect(await names(w, 'u', tx)).toEqual(['z']);
    });
    expect(await names(w, 't')).toEqual(['a', 'b', 'd']);
    expect(await names(w, 'u')).toEqual(['z']);
    await w.execute('DROP TABLE s.t');
    expect(await names(w, 't')).toEqual([]);
    expect(await w.introspector.tableExists('s', 't')).toBe(false);
    });
  });

  it('primes every table of a schema in one lookup, and still sees later changes', async () => {
    await withWarehouse(['t (a INT, b VARCHAR)', 'u (z DATE)'], async (w) => {
      await w.introspector.prime?.(['s']);
      expect(await w.introspector.columns('s', 't')).toEqual([{ name: 'a', type: 'INTEGER' }, { name: 'b', type: 'VARCHAR' }]);
      expect(await names(w, 'u')).toEqual(['z']);
      await w.transaction((tx) => tx.execute('ALTER TABLE s.u ADD COLUMN y INT'));
      expect(await names(w, 'u')).toEqual(['z', 'y']);
    });
  });

  it('does not let a transaction that began before a schema change fill or read the cache', async () => {
    await withWarehouse(['t (a INT)'], async (w) => {
      let release!: () => void;
      let begun!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const started = new Promise<void>((r) => (begun = r));
      let seenInOld: string[] = [];
      // `old` takes its snapshot, then waits while the table gains a column, then looks.
      const old = w.transaction(async (tx) => {
        await tx.query('SELECT count(*) FROM s.t');
        begun();
        await gate;
        seenInOld = await names(w, 't', tx);
    });
    await started;
    await w.execute('ALTER TABLE s.t ADD COLUMN b INT');
    // Someone asks now, filling the cache with the new schema: the old snapshot must still not be told.
    expect(await names(w, 't')).toEqual(['a', 'b']);
    release();
    await old;
    expect(seenInOld).toEqual(['a']);
    // What the old snapshot saw did not stick: everyone after it sees the new column.
    expect(await names(w, 't')).toEqual(['a', 'b']);
    });
  });
});
