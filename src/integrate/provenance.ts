import { compatible } from './compatibility.js';
import { goldTable, runAll, WORK, type IntegrationRun } from './integration-run.js';

/**
 * Every candidate judged against the surviving value: compatible (equal after normalisation, or for names an
 * abbreviation of it) or not, and its vote — 1, or the source's decayed trust when confidence is trust-weighted.
 */
export async function judgeCandidates(run: IntegrationRun): Promise<void> {
  const { d, plan } = run;
  const names = plan.fields.filter((f) => f.kind === 'name').map((f) => d.literal(f.name));
  const isCompatible = names.length > 0 ? `CASE WHEN c.field IN (${names.join(', ')}) THEN ${compatible(d, 'name', 'c.norm', 'w.norm')} ELSE c.norm = w.norm END` : 'c.norm = w.norm';
  await run.tx.execute(`CREATE TEMP TABLE ${WORK.judged} AS
    SELECT c.master_id, c.field, c.source, c.src, c.value, c.raw, c.updated_at, c.trust, c.source = w.source AS won,
      ${isCompatible} AS compatible, ${plan.confidence === 'trust_weighted' ? 'c.trust' : '1.0'} AS vote
    FROM ${WORK.candidates} c JOIN ${WORK.winners} w ON w.master_id = c.master_id AND w.field = c.field`);
}

/**
 * Provenance, one row per entity and field: the value, the winning source, the rule that decided, the confidence
 * (share of the supplying sources' votes that are compatible with the value), whether it is contested (confidence
 * below 1), and every candidate with its source and business timestamp. A field no source supplies gets its default
 * (rule `default`) or nothing (rule `no_value`), with no confidence. Rows of the resolved entities are replaced;
 * with `all`, the table is rebuilt.
 */
export async function writeProvenance(run: IntegrationRun, all: boolean): Promise<void> {
  const { d, plan, runId } = run;
  const table = goldTable(run, 'provenance');
  const key = d.quoteIdent(plan.key);
  const fields = plan.fields.map((f) => `(${d.literal(f.name)}, ${f.default === undefined ? 'CAST(NULL AS VARCHAR)' : d.literal(String(f.default))}, ${plan.fields.indexOf(f)})`);
  const candidates = d.collectList(
    [['source', 'source'], ['value', 'value'], ['raw', 'raw'], ['updated_at', 'updated_at'], ['compatible', 'compatible'], ['chosen', 'won']],
    'src',
  );
  await runAll(run, [
    `CREATE TEMP TABLE _ir_live AS SELECT DISTINCT m.master_id FROM ${WORK.members} m JOIN ${WORK.affected} a ON a.master_id = m.master_id`,
    `CREATE TEMP TABLE _ir_provenance AS
     SELECT l.master_id AS ${key}, f.field, coalesce(w.value, f.dflt) AS value, w.source,
       coalesce(w.rule, CASE WHEN f.dflt IS NULL THEN 'no_value' ELSE 'default' END) AS rule,
       j.confidence, coalesce(j.confidence < 1, FALSE) AS contested, j.candidates, ${runId} AS _run_id, f.position AS _position
     FROM _ir_live l CROSS JOIN (VALUES ${fields.join(', ')}) f(field, dflt, position)
     LEFT JOIN ${WORK.winners} w ON w.master_id = l.master_id AND w.field = f.field
     LEFT JOIN (
       SELECT master_id, field, sum(CASE WHEN compatible THEN vote ELSE 0 END) / NULLIF(sum(vote), 0) AS confidence, ${candidates} AS candidates
       FROM ${WORK.judged} GROUP BY master_id, field
     ) j ON j.master_id = l.master_id AND j.field = f.field`,
  ]);
  const columns = `${key}, field, value, source, rule, confidence, contested, candidates, _run_id`;
  if (all) {
    await run.tx.execute(`CREATE OR REPLACE TABLE ${table} AS SELECT ${columns} FROM _ir_provenance ORDER BY ${key}, _position`);
  } else {
    await runAll(run, [
      `DELETE FROM ${table} WHERE ${key} IN (SELECT master_id FROM ${WORK.affected})`,
      `INSERT INTO ${table} SELECT ${columns} FROM _ir_provenance ORDER BY ${key}, _position`,
    ]);
  }
}
