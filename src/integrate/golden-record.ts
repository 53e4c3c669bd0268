import { entityColumn as e, resolvedColumn as r } from './entity-columns.js';
import { count, goldTable, readableOrder, runAll, WORK, type IntegrationRun } from './integration-run.js';
import { RESOLVED } from './survivorship.js';

/**
 * The golden record, one row per entity: each field's surviving value (or its default) in its declared type, then
 * `_quality` (the average over fields of the field's confidence, counting 0 for a field no source supplies),
 * `_contested` (how many fields have confidence below 1) and `_run_id` (the run that last resolved it).
 */
export async function writeGoldenRecords(run: IntegrationRun, all: boolean, entities: number): Promise<number> {
  const { d, plan, runId } = run;
  const table = goldTable(run, 'master');
  const key = d.quoteIdent(plan.key);
  const q = (n: string): string => d.quoteIdent(n);
  const values = plan.fields.map((f) => {
    const text = f.default === undefined ? q(r.value(f.name)) : `coalesce(${q(r.value(f.name))}, ${d.literal(String(f.default))})`;
    return `${f.type === 'text' ? text : d.parse(text, f.type)} AS ${q(f.name)}`;
  });
  const quality = plan.fields.map((f) => `CASE WHEN ${q(r.source(f.name))} IS NULL THEN 0 ELSE coalesce(${q(r.confidence(f.name))}, 0) END`);
  const contested = plan.fields.map((f) => `CASE WHEN ${q(r.confidence(f.name))} < 1 THEN 1 ELSE 0 END`);
  const select = `SELECT master_id AS ${key}, ${values.join(', ')}, (${quality.join(' + ')}) / ${plan.fields.length}.0 AS _quality,
      ${contested.join(' + ')} AS _contested, CAST(${runId} AS BIGINT) AS _run_id
    FROM ${RESOLVED} ${readableOrder(entities, 'master_id')}`;
  if (all) {
    await run.tx.execute(`CREATE OR REPLACE TABLE ${table} AS ${select}`);
  } else {
    await runAll(run, [`DELETE FROM ${table} WHERE ${key} IN (SELECT master_id FROM ${WORK.affected})`, `INSERT INTO ${table} ${select}`]);
  }
  return count(run, `SELECT count(*) FROM ${RESOLVED}`);
}

/** Per source record of the resolved entities: how many of its values agree with the golden values (for the scorecard). */
export async function countConsistency(run: IntegrationRun): Promise<void> {
  const { d, plan } = run;
  const q = (n: string): string => d.quoteIdent(n);
  const perSource = plan.sources.map((s) => {
    const fields = s.fields.map((m) => `CASE WHEN ${q(r.compatible(s.rank, m.field))} THEN 1 ELSE 0 END`);
    return `SELECT ${q(e.record(s.rank))} AS _rec, ${fields.length ? fields.join(' + ') : '0'} AS consistent FROM ${RESOLVED} WHERE ${q(e.present(s.rank))}`;
  });
  await run.tx.execute(`CREATE TEMP TABLE _ir_consistency AS ${perSource.join('\nUNION ALL\n')}`);
}
