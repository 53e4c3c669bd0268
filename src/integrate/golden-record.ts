import { goldTable, runAll, WORK, type IntegrationRun } from './integration-run.js';

/**
 * The golden record, one row per entity: each field's surviving value in its declared type, then `_quality` (the
 * average over fields of the field's confidence, counting 0 for a field no source supplies), `_contested` (how many
 * fields have confidence below 1) and `_run_id` (the run that last resolved it). Built from this run's provenance rows.
 */
export async function writeGoldenRecords(run: IntegrationRun, all: boolean): Promise<number> {
  const { d, plan } = run;
  const table = goldTable(run, 'master');
  const key = d.quoteIdent(plan.key);
  const values = plan.fields.map((f) => {
    const text = `max(value) FILTER (WHERE field = ${d.literal(f.name)})`;
    return `${f.type === 'text' ? text : d.parse(text, f.type)} AS ${d.quoteIdent(f.name)}`;
  });
  const select = `SELECT ${key}, ${values.join(', ')},
      avg(CASE WHEN source IS NULL THEN 0 ELSE coalesce(confidence, 0) END) AS _quality,
      count(*) FILTER (WHERE contested) AS _contested, max(_run_id) AS _run_id
    FROM _ir_provenance GROUP BY ${key} ORDER BY ${key}`;
  if (all) {
    await run.tx.execute(`CREATE OR REPLACE TABLE ${table} AS ${select}`);
  } else {
    await runAll(run, [`DELETE FROM ${table} WHERE ${key} IN (SELECT master_id FROM ${WORK.affected})`, `INSERT INTO ${table} ${select}`]);
  }
  const { rows } = await run.tx.query(`SELECT count(*) AS n FROM _ir_live`);
  return Number(rows[0]?.n ?? 0);
}
