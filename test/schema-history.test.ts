import { describe, expect, it } from 'vitest';
import { recordTableSchema } from '../src/layers/schema-history.js';
import { migrate } from '../src/state/migrate.js';
import { ENGINES } from './helpers/engines.js';

describe.each(ENGINES)('schema history of a model on $name', (engine) => {
  it('records every change even after runs that found the schema unchanged, and nothing a rollback undid', async () => {
    const w = await engine.open(':memory:');
    try {
      await migrate(w);
      await w.execute('CREATE SCHEMA IF NOT EXISTS silver');
      await w.execute('CREATE TABLE silver.t (a INTEGER)');
      let run = 0;
      // As a build does: the fingerprint the last build returned (kept in refinery.tables) comes back as `known`.
      let known: string | undefined;
      const record = async () => {
        known = await w.transaction((tx) => recordTableSchema(tx, w, 'silver', 't', { runId: ++run, at: new Date('2024-01-01T00:00:00Z'), reason: `run ${run}`, rebuilt: false, known }));
      };
      const history = async () => (await w.query(`SELECT version, event, columns FROM refinery.schema_history WHERE table_name = 'silver.t' ORDER BY id`)).rows;
      const a = JSON.stringify([{ name: 'a', type: 'INTEGER' }]);
      const ab = JSON.stringify([{ name: 'a', type: 'INTEGER' }, { name: 'b', type: 'VARCHAR' }]);

      await record();
      const fingerprintA = known;
      await record(); // unchanged: nothing written, and the same fingerprint
      expect(known).toBe(fingerprintA);
      await w.execute('ALTER TABLE silver.t ADD COLUMN b VARCHAR');
      await record();
      const fingerprintAB = known;
      // Back to the columns an earlier run confirmed: still a change from the latest version, so it is recorded.
      await w.execute('ALTER TABLE silver.t DROP COLUMN b');
      await record();
      expect(known).toBe(fingerprintA);
      expect(await history()).toEqual([
        { version: 1, event: 'created', columns: a },
        { version: 2, event: 'changed', columns: ab },
        { version: 3, event: 'changed', columns: a },
      ]);

      // `known` is trusted without a look at the history (it commits with the entry it describes): passing the
      // fingerprint of the table's current columns writes nothing, even though the latest entry differs here.
      await w.execute('ALTER TABLE silver.t ADD COLUMN b VARCHAR');
      expect(await w.transaction((tx) => recordTableSchema(tx, w, 'silver', 't', { runId: 99, at: new Date('2024-01-01T00:00:00Z'), reason: 'trusted', rebuilt: false, known: fingerprintAB }))).toBe(fingerprintAB);
      expect(await history()).toHaveLength(3);
      await w.execute('ALTER TABLE silver.t DROP COLUMN b');

      // A version written and rolled back is not the latest: the next run compares with what was committed.
      await expect(
        w.transaction(async (tx) => {
          await tx.execute('ALTER TABLE silver.t ADD COLUMN c DOUBLE');
          await recordTableSchema(tx, w, 'silver', 't', { runId: ++run, at: new Date('2024-01-01T00:00:00Z'), reason: 'rolled back', rebuilt: false });
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      await w.execute('ALTER TABLE silver.t ADD COLUMN c DOUBLE');
      await record();
      expect((await history()).map((r) => [r.version, r.event])).toEqual([[1, 'created'], [2, 'changed'], [3, 'changed'], [4, 'changed']]);
    } finally {
      await w.close();
    }
  });
});
