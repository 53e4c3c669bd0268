import { afterEach, describe, expect, it } from 'vitest';
import type { ProjectConfig, SchemaContract } from '../src/config/types.js';
import { ENGINES } from './helpers/engines.js';
import { projectFile } from './helpers/project-files.js';
import { TestProject } from './helpers/temp-project.js';

/**
 * Schema evolution: a landed file with a new column, without a column, or with a wider type, under each contract
 * (evolve, freeze, discard_row, discard_value); a narrowing that is never silent; a declared rename. The
 * conservation law holds through all of it, and an incremental run equals a rebuild.
 */
function people(contract?: SchemaContract, extra: Partial<ProjectConfig> = {}): string {
  return projectFile({
    name: 'people',
    sources: { people: { path: 'landing/people/*.csv' } },
    silver: {
      people: {
        columns: { id: { type: 'integer', clean: ['trim'] }, name: { clean: ['trim'] } },
        checks: [{ name: 'invalid_id', column: 'id', rule: { min: 1 } }],
        key: 'id',
        ...(contract ? { contract } : {}),
      },
    },
    ...extra,
  });
}

const DAY1 = 'id,name\n1,Ann\n2,Bob\n';
const DAY2 = 'id,name,tier\n3,Cid,gold\n4,Dee,\n';

describe.each(ENGINES)('schema evolution on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => project?.dispose());

  const step = (report: Awaited<ReturnType<TestProject['run']>>, name: string) => report.steps.find((s) => s.step === name);

  async function landTwoDays(contract?: SchemaContract, day2 = DAY2): Promise<Awaited<ReturnType<TestProject['run']>>> {
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': people(contract), 'landing/people/day1.csv': DAY1 });
    expect((await project.run()).status).toBe('success');
    project.write('landing/people/day2.csv', day2);
    return project.run();
  }

  async function expectRebuildEqualsIncremental(sql: string): Promise<void> {
    const incremental = await project.rows(sql);
    expect((await project.run({ fullRefresh: true })).status).toBe('success');
    expect(await project.rows(sql)).toEqual(incremental);
  }

  it('evolve: bronze keeps the new column and silver passes it through as text, NULL for earlier rows', async () => {
    const report = await landTwoDays();
    expect(report.status).toBe('success');
    expect(step(report, 'bronze.people')?.files.find((f) => f.path.endsWith('day2.csv'))?.schema).toEqual(['new column tier (VARCHAR) added to bronze.people']);
    expect(step(report, 'silver.people')?.message).toMatch(/new column tier \(VARCHAR\) passed through from bronze \(contract newColumns: evolve\)/);
    expect(await project.rows(`SELECT id, name, tier FROM silver.people ORDER BY id`)).toEqual([
      { id: 1, name: 'Ann', tier: null },
      { id: 2, name: 'Bob', tier: null },
      { id: 3, name: 'Cid', tier: 'gold' },
      { id: 4, name: 'Dee', tier: '' },
    ]);
    expect((await project.audit()).balanced).toBe(true);
    await expectRebuildEqualsIncremental(`SELECT * FROM silver.people ORDER BY id`);
  });

  it('freeze: the run fails before silver is written, naming the table, column, file and type', async () => {
    const report = await landTwoDays({ newColumns: 'freeze' });
    expect(report.status).toBe('failed');
    const silver = step(report, 'silver.people');
    expect(silver?.status).toBe('failed');
    expect(silver?.message).toBe(
      "silver.people: landing/people/day2.csv brings a new column 'tier' (VARCHAR) that bronze.people did not have at first, and its contract says newColumns: 'freeze'. Nothing was written to silver.people.",
    );
    expect(silver?.error).toMatchObject({ code: 'schema_contract_violation', table: 'silver.people', column: 'tier', file: 'landing/people/day2.csv' });
    // Bronze keeps what arrived; silver is as it was before the file.
    expect(await project.rows(`SELECT count(*) AS n FROM bronze.people WHERE tier IS NOT NULL`)).toEqual([{ n: 2 }]);
    expect(await project.rows(`SELECT id FROM silver.people ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('discard_row: the rows of the file with the new column go to quarantine as schema_violation, and the audit balances', async () => {
    const report = await landTwoDays({ newColumns: 'discard_row' });
    expect(report.status).toBe('success');
    expect(step(report, 'silver.people')?.quarantinedByReason).toEqual({ schema_violation: 2 });
    expect(await project.rows(`SELECT id FROM silver.people ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(await project.rows(`SELECT id, tier, _reason, _detail FROM quarantine.people ORDER BY id`)).toEqual([
      { id: '3', tier: 'gold', _reason: 'schema_violation', _detail: "landing/people/day2.csv brings column 'tier', which silver.people does not take (contract newColumns: discard_row)" },
      { id: '4', tier: '', _reason: 'schema_violation', _detail: "landing/people/day2.csv brings column 'tier', which silver.people does not take (contract newColumns: discard_row)" },
    ]);
    const audit = await project.audit();
    expect(audit.balanced).toBe(true);
    expect(audit.tables[0]).toMatchObject({ bronze: 4, silver: 2, quarantined: 2 });
    await expectRebuildEqualsIncremental(`SELECT id, _reason FROM quarantine.people ORDER BY id`);
  });

  it('discard_value: the rows are kept without the new column, and the discarded values are counted', async () => {
    const report = await landTwoDays({ newColumns: 'discard_value' });
    expect(report.status).toBe('success');
    expect(step(report, 'silver.people')?.message).toMatch(/2 values of new column tier discarded \(contract newColumns: discard_value\)/);
    expect((await project.rows(`SELECT * FROM silver.people ORDER BY id`)).map((r) => Object.keys(r))[0]).not.toContain('tier');
    expect(await project.rows(`SELECT id FROM silver.people ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }]);
    expect((await project.audit()).balanced).toBe(true);
  });

  it('missing columns: NULL under evolve, refused by freeze, quarantined by discard_row', async () => {
    const noName = 'id\n5\n';
    const evolve = await landTwoDays(undefined, noName);
    expect(evolve.status).toBe('success');
    expect(step(evolve, 'bronze.people')?.files.find((f) => f.path.endsWith('day2.csv'))?.schema).toEqual(['no name in this file: NULL for its rows']);
    expect(await project.rows(`SELECT id, name FROM silver.people WHERE id = 5`)).toEqual([{ id: 5, name: null }]);
    await project.dispose();

    const freeze = await landTwoDays({ missingColumns: 'freeze' }, noName);
    expect(step(freeze, 'silver.people')?.message).toBe(
      "silver.people: landing/people/day2.csv has no column 'name', which silver.people.name reads, and its contract says missingColumns: 'freeze'. Nothing was written to silver.people.",
    );
    await project.dispose();

    const discard = await landTwoDays({ missingColumns: 'discard_row' }, noName);
    expect(discard.status).toBe('success');
    expect(await project.rows(`SELECT id, _reason FROM quarantine.people`)).toEqual([{ id: '5', _reason: 'schema_violation' }]);
    expect((await project.audit()).balanced).toBe(true);
  });

  it('a gold model reading silver.* gains the new column by a rebuild under evolve, leaves it out under discard_value, sets rows aside under discard_row', async () => {
    const gold = (contract?: SchemaContract): Partial<ProjectConfig> => ({ gold: { everyone: { sql: 'SELECT * FROM silver.people', key: 'id', ...(contract ? { contract } : {}) } } });
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': people(undefined, gold()), 'landing/people/day1.csv': DAY1 });
    await project.run();
    project.write('landing/people/day2.csv', DAY2);
    const evolved = await project.run();
    expect(step(evolved, 'gold.everyone')?.message).toBe(
      'rebuilt because silver.people changed; new column tier (VARCHAR) from upstream: rebuilt so every row has it (contract newColumns: evolve)',
    );
    expect(await project.rows(`SELECT id, tier FROM gold.everyone ORDER BY id`)).toEqual([
      { id: 1, tier: null },
      { id: 2, tier: null },
      { id: 3, tier: 'gold' },
      { id: 4, tier: '' },
    ]);
    await expectRebuildEqualsIncremental(`SELECT * FROM gold.everyone ORDER BY id`);
    await project.dispose();

    project = TestProject.fromFiles(engine, { 'refinery.config.ts': people(undefined, gold({ newColumns: 'discard_value' })), 'landing/people/day1.csv': DAY1 });
    await project.run();
    project.write('landing/people/day2.csv', DAY2);
    const discarded = await project.run();
    expect(step(discarded, 'gold.everyone')?.message).toMatch(/^recomputed 2 changed keys .*; new column tier \(VARCHAR\) from upstream left out \(contract newColumns: discard_value\)$/);
    expect(Object.keys((await project.rows(`SELECT * FROM gold.everyone`))[0] ?? {})).not.toContain('tier');
    await expectRebuildEqualsIncremental(`SELECT * FROM gold.everyone ORDER BY id`);
    await project.dispose();

    project = TestProject.fromFiles(engine, { 'refinery.config.ts': people(undefined, gold({ newColumns: 'discard_row' })), 'landing/people/day1.csv': DAY1 });
    await project.run();
    project.write('landing/people/day2.csv', DAY2);
    const setAside = await project.run();
    // Rows with a value in the new column (an empty CSV field is a value: '') are set aside.
    expect(step(setAside, 'gold.everyone')?.message).toBe(
      'rebuilt because silver.people changed; rebuilt so the rows breaking its contract are set aside (contract: discard_row); 2 rows set aside in quarantine.gold_everyone as schema_violation',
    );
    expect(await project.rows(`SELECT id FROM gold.everyone ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(await project.rows(`SELECT id, tier, _reason, _detail FROM quarantine.gold_everyone ORDER BY id`)).toEqual([
      { id: 3, tier: 'gold', _reason: 'schema_violation', _detail: 'new column tier has a value (contract: discard_row)' },
      { id: 4, tier: '', _reason: 'schema_violation', _detail: 'new column tier has a value (contract: discard_row)' },
    ]);
  });

  /** Typed landing files (Parquet keeps its types in bronze): amount arrives as INTEGER, then as something else. */
  function events(contract?: SchemaContract, gold?: SchemaContract, amountType: 'integer' | 'double' | 'decimal(10,1)' = 'integer'): string {
    return projectFile({
      name: 'events',
      sources: { events: { path: 'landing/events/*.parquet' } },
      silver: { events: { columns: { id: { type: 'integer' }, amount: { type: amountType } }, key: 'id', ...(contract ? { contract } : {}) } },
      gold: { totals: { sql: 'SELECT id, amount FROM silver.events', key: 'id', ...(gold ? { contract: gold } : {}) } },
    });
  }

  async function landParquet(config: string, days: readonly string[]): Promise<Awaited<ReturnType<TestProject['run']>>[]> {
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': config, 'landing/events/README.txt': 'Parquet files land here.' });
    const { warehouse } = await project.open();
    const reports = [];
    for (const [i, select] of days.entries()) {
      await warehouse.execute(`COPY (${select}) TO '${project.dir}/landing/events/day${i + 1}.parquet' (FORMAT parquet)`);
      reports.push(await project.run());
    }
    return reports;
  }

  const INTEGERS = 'SELECT * FROM (VALUES (1, 10), (2, 20)) t(id, amount)';
  const DOUBLES = 'SELECT 3 AS id, 2.5::DOUBLE AS amount';

  it('widens a type: bronze, silver and gold follow integer → double under evolve, in place, and the history says so', async () => {
    const [, second] = await landParquet(events(), [INTEGERS, DOUBLES]);
    expect(second?.status).toBe('success');
    expect(step(second!, 'bronze.events')?.files[1]?.schema).toEqual(['amount widened from INTEGER to DOUBLE in bronze.events']);
    expect(step(second!, 'silver.events')?.message).toMatch(/amount widened from BIGINT to DOUBLE \(contract typeChanges: evolve\)/);
    expect(step(second!, 'gold.totals')?.message).toMatch(/^recomputed 1 changed key .*; amount widened from BIGINT to DOUBLE \(contract typeChanges: evolve\)$/);
    expect(await project.rows(`SELECT id, amount FROM gold.totals ORDER BY id`)).toEqual([
      { id: 1, amount: 10 },
      { id: 2, amount: 20 },
      { id: 3, amount: 2.5 },
    ]);
    expect(await project.rows(`SELECT data_type FROM information_schema.columns WHERE table_schema IN ('silver', 'gold') AND column_name = 'amount'`)).toEqual([{ data_type: 'DOUBLE' }, { data_type: 'DOUBLE' }]);
    expect(await project.rows(`SELECT table_name, version, event, changes FROM refinery.schema_history WHERE event = 'changed' ORDER BY id`)).toEqual([
      { table_name: 'bronze.events', version: 2, event: 'changed', changes: JSON.stringify([{ kind: 'widened', column: 'amount', from: 'INTEGER', to: 'DOUBLE' }]) },
      { table_name: 'silver.events', version: 2, event: 'changed', changes: JSON.stringify([{ kind: 'retyped', column: 'amount', from: 'BIGINT', to: 'DOUBLE' }]) },
      { table_name: 'gold.totals', version: 2, event: 'changed', changes: JSON.stringify([{ kind: 'widened', column: 'amount', from: 'BIGINT', to: 'DOUBLE' }]) },
    ]);
    await expectRebuildEqualsIncremental(`SELECT * FROM gold.totals ORDER BY id`);
  });

  it('a wider type under freeze, discard_value and discard_row: fails naming both types, NULLs and counts, or quarantines', async () => {
    const [, frozen] = await landParquet(events({ typeChanges: 'freeze' }), [INTEGERS, DOUBLES]);
    expect(step(frozen!, 'silver.events')?.message).toBe(
      "silver.events: landing/events/day2.parquet brings 'amount' as DOUBLE, but silver.events.amount is BIGINT, and its contract says typeChanges: 'freeze'. Nothing was written to silver.events.",
    );
    expect(step(frozen!, 'gold.totals')?.status).toBe('upstream_failed');
    await project.dispose();

    const [, nulled] = await landParquet(events({ typeChanges: 'discard_value' }), [INTEGERS, DOUBLES]);
    expect(step(nulled!, 'silver.events')?.message).toMatch(/1 amount value arriving as DOUBLE set to NULL: silver keeps BIGINT \(contract typeChanges: discard_value\)/);
    expect(await project.rows(`SELECT id, amount FROM silver.events ORDER BY id`)).toEqual([
      { id: 1, amount: 10 },
      { id: 2, amount: 20 },
      { id: 3, amount: null },
    ]);
    await project.dispose();

    const [, quarantined] = await landParquet(events({ typeChanges: 'discard_row' }), [INTEGERS, DOUBLES]);
    expect(step(quarantined!, 'silver.events')?.quarantinedByReason).toEqual({ schema_violation: 1 });
    expect(await project.rows(`SELECT id, amount, _detail FROM quarantine.events`)).toEqual([
      { id: 3, amount: 2.5, _detail: "landing/events/day2.parquet brings 'amount' as DOUBLE, wider than silver.events.amount (BIGINT) (contract typeChanges: discard_row)" },
    ]);
    expect((await project.audit()).balanced).toBe(true);
  });

  it('a gold model under freeze fails when its output widens upstream, naming the table, column and both types', async () => {
    const [, second] = await landParquet(events(undefined, 'freeze'), [INTEGERS, DOUBLES]);
    expect(step(second!, 'silver.events')?.status).toBe('success');
    expect(step(second!, 'gold.totals')?.message).toBe(
      "gold.totals: column 'amount' is now DOUBLE in the model's output, but gold.totals.amount is BIGINT (it reads silver.events), and its contract says typeChanges: 'freeze'. Nothing was written to gold.totals.",
    );
    expect(await project.rows(`SELECT data_type FROM information_schema.columns WHERE table_schema = 'gold' AND column_name = 'amount'`)).toEqual([{ data_type: 'BIGINT' }]);
  });

  it('never narrows silently: a narrower type is stored in the wider one and said; an incompatible one is refused', async () => {
    const [first, second, third] = await landParquet(events(undefined, undefined, 'double'), ['SELECT 1 AS id, 10.5::DOUBLE AS amount', 'SELECT 2 AS id, 7::INTEGER AS amount', "SELECT 3 AS id, 'n/a' AS amount"]);
    expect(first?.status).toBe('success');
    expect(step(second!, 'bronze.events')?.files[1]?.schema).toEqual(["amount arrived as INTEGER, narrower than bronze's DOUBLE: stored as DOUBLE, nothing lost"]);
    expect(await project.rows(`SELECT event, changes FROM refinery.schema_history WHERE table_name = 'bronze.events' AND event = 'narrower'`)).toEqual([
      { event: 'narrower', changes: JSON.stringify([{ kind: 'narrower', column: 'amount', from: 'INTEGER', to: 'DOUBLE' }]) },
    ]);
    expect(step(third!, 'bronze.events')?.files[2]).toMatchObject({
      outcome: 'refused',
      reason: "column 'amount' is VARCHAR in this file but DOUBLE in bronze.events, and neither type holds the other's values (only integer → bigint → double, float or decimal → double, and date → timestamp widen); bronze keeps one type per column",
    });
    expect(await project.rows(`SELECT id, amount FROM silver.events ORDER BY id`)).toEqual([
      { id: 1, amount: 10.5 },
      { id: 2, amount: 7 },
    ]);

    // The model's output narrows (silver's amount is declared a decimal now, the model unchanged): gold keeps DOUBLE and says so.
    project.write('refinery.config.ts', events(undefined, undefined, 'decimal(10,1)'));
    const narrowed = await project.run();
    expect(step(narrowed, 'gold.totals')?.message).toMatch(/amount is now DECIMAL\(10,1\) in the model's output, narrower than DOUBLE: kept DOUBLE, nothing lost$/);
    expect(await project.rows(`SELECT id, amount FROM gold.totals ORDER BY id`)).toEqual([
      { id: 1, amount: 10.5 },
      { id: 2, amount: 7 },
    ]);
    expect(await project.rows(`SELECT data_type FROM information_schema.columns WHERE table_schema = 'gold' AND column_name = 'amount'`)).toEqual([{ data_type: 'DOUBLE' }]);
  });

  it('rejects renames that chain, contracts it does not know, and publish paths that overlap — naming the key', async () => {
    const config = projectFile({
      name: 'people',
      sources: { people: { path: 'landing/people/*.csv', renamed: { a: 'b', b: 'c' }, publish: { format: 'parquet', path: 'lake/people' } } },
      silver: { people: { columns: { id: {} }, partitionBy: 'nope', publish: { format: 'parquet', path: 'lake/people/silver' } } },
    });
    project = TestProject.fromFiles(engine, { 'refinery.config.ts': config });
    const error = await project.open().then(
      () => undefined,
      (e: unknown) => e as { kind: string; issues: { code: string; path: string; message: string; line?: number }[] },
    );
    expect(error?.kind).toBe('config');
    expect(error?.issues.map((i) => [i.code, i.path])).toEqual([
      ['config_rename_chain', 'sources.people.renamed.a'],
      ['config_unknown_column', 'silver.people.partitionBy'],
      ['config_publish_path', 'silver.people.publish.path'],
    ]);
    expect(error?.issues[0]?.message).toBe("sources.people.renamed.a: 'a' is renamed to 'b', which is itself renamed to 'c'");
    expect(error?.issues[2]?.message).toBe("silver.people.publish.path: 'lake/people/silver' overlaps 'lake/people', published by sources.people");
    await project.dispose();

    project = TestProject.fromFiles(engine, { 'refinery.config.ts': people().replace('"key": "id"', '"key": "id", "contract": "strict"') });
    const unknown = await project.open().then(
      () => undefined,
      (e: unknown) => e as { issues: { path: string; allowed?: string }[] },
    );
    expect(unknown?.issues[0]).toMatchObject({ path: 'silver.people.contract', allowed: expect.stringMatching(/^'evolve', 'freeze', 'discard_row', 'discard_value', or \{ newColumns/) });
  });

  it('lands a file that uses a declared old column name under the new name, and records the rename', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': people(undefined, {}).replace('"path": "landing/people/*.csv"', '"path": "landing/people/*.csv", "renamed": { "full_name": "name" }'),
      'landing/people/day1.csv': DAY1,
      'landing/people/day2.csv': 'id,full_name\n3,Cid\n',
    });
    const report = await project.run();
    expect(report.status).toBe('success');
    expect(step(report, 'bronze.people')?.files[1]?.schema).toEqual(['column full_name stored as name (renamed)']);
    expect(await project.rows(`SELECT id, name, _source_file FROM bronze.people ORDER BY id`)).toEqual([
      { id: '1', name: 'Ann', _source_file: 'landing/people/day1.csv' },
      { id: '2', name: 'Bob', _source_file: 'landing/people/day1.csv' },
      { id: '3', name: 'Cid', _source_file: 'landing/people/day2.csv' },
    ]);
    expect((await project.rows(`SELECT column_name FROM information_schema.columns WHERE table_schema = 'bronze' AND table_name = 'people'`)).map((r) => r.column_name)).not.toContain('full_name');
    expect(await project.rows(`SELECT event, changes FROM refinery.schema_history WHERE table_name = 'bronze.people' AND event = 'renamed'`)).toEqual([
      { event: 'renamed', changes: JSON.stringify([{ kind: 'renamed', column: 'name', from: 'full_name', to: 'name' }]) },
    ]);

    project.write('landing/people/day3.csv', 'id,name,full_name\n4,Dee,Dee\n');
    const both = await project.run();
    expect(step(both, 'bronze.people')?.files[2]).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/has both 'full_name' and 'name'/) });
  });
});
