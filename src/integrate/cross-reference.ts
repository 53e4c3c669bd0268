import { count, goldTable, readableOrder, runAll, WORK, type IntegrationRun } from './integration-run.js';

/**
 * The cross-reference `gold.<name>_xref`: one row per source record ever seen — source, source key → master id — plus
 * how it was matched and its own quality figures. It is never dropped (not by a rule change, not by --full-refresh):
 * it is what keeps master ids stable from run to run. Records that disappear from their source stay, marked inactive.
 */
export async function ensureCrossReference(run: IntegrationRun): Promise<void> {
  const { d, plan, tx } = run;
  const xref = goldTable(run, 'xref');
  await tx.execute(`CREATE TABLE IF NOT EXISTS ${xref} (
    source VARCHAR NOT NULL, source_key VARCHAR NOT NULL, ${d.quoteIdent(plan.key)} VARCHAR NOT NULL,
    matched_by VARCHAR, match_weight DOUBLE, first_run BIGINT, changed_run BIGINT, active BOOLEAN,
    updated_at TIMESTAMP, record_hash VARCHAR,
    fields_mapped INTEGER, fields_present INTEGER, fields_valid INTEGER, fields_consistent INTEGER, quality DOUBLE)`);
  const { rows } = await tx.query(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = 'gold' AND table_name = $1 ORDER BY ordinal_position`,
    [plan.tables.xref],
  );
  const third = rows[2]?.column_name;
  // The master id column follows the entity's key: renaming the key renames it, keeping every id.
  if (third !== undefined && third !== plan.key) await tx.execute(`ALTER TABLE ${xref} RENAME COLUMN ${d.quoteIdent(String(third))} TO ${d.quoteIdent(plan.key)}`);
}

/** Records new, changed (by hash), back after being gone, or gone since the last run. */
export async function countChanges(run: IntegrationRun): Promise<{ changed: number; removed: number }> {
  const xref = goldTable(run, 'xref');
  const changed = await count(run, `SELECT count(*) FROM ${WORK.records} r JOIN ${WORK.members} m ON m._rec = r._rec
    LEFT JOIN ${xref} x ON x.source = r._source AND x.source_key = r._key
    WHERE m.fresh OR x.record_hash IS DISTINCT FROM r._hash OR NOT x.active`);
  const removed = await count(run, `SELECT count(*) FROM ${xref} x WHERE x.active AND NOT EXISTS (SELECT 1 FROM ${WORK.records} r WHERE r._source = x.source AND r._key = x.source_key)`);
  return { changed, removed };
}

/**
 * Entities to resolve again: every one (`all`), or those that gained, lost or changed a record — including the one an
 * override took a record from.
 */
export async function markAffected(run: IntegrationRun, all: boolean): Promise<number> {
  const { d, plan } = run;
  const xref = goldTable(run, 'xref');
  const key = d.quoteIdent(plan.key);
  if (all) {
    await run.tx.execute(`CREATE TEMP TABLE ${WORK.affected} AS SELECT DISTINCT master_id FROM ${WORK.members}`);
  } else {
    await run.tx.execute(`CREATE TEMP TABLE ${WORK.affected} AS
      SELECT m.master_id FROM ${WORK.records} r JOIN ${WORK.members} m ON m._rec = r._rec
        LEFT JOIN ${xref} x ON x.source = r._source AND x.source_key = r._key
        WHERE m.fresh OR x.record_hash IS DISTINCT FROM r._hash OR NOT x.active
      UNION SELECT x.${key} FROM ${xref} x
        WHERE x.active AND NOT EXISTS (SELECT 1 FROM ${WORK.records} r WHERE r._source = x.source AND r._key = x.source_key)
      UNION SELECT x.${key} FROM ${xref} x JOIN ${WORK.records} r ON r._source = x.source AND r._key = x.source_key
        JOIN ${WORK.members} m ON m._rec = r._rec WHERE m.fresh AND x.${key} <> m.master_id`);
  }
  return count(run, `SELECT count(*) FROM ${WORK.affected}`);
}

/**
 * Writes the cross-reference again: present records with their (possibly new) master id, fresh hash and figures —
 * recomputed for re-resolved entities (`_ir_consistency`, when `resolved`), carried over for the rest — and records
 * gone from their source, inactive.
 */
export async function rewriteCrossReference(run: IntegrationRun, resolved: boolean, records: number): Promise<void> {
  const { d, plan, runId } = run;
  const xref = goldTable(run, 'xref');
  const key = d.quoteIdent(plan.key);
  const mapped = `CASE r._source ${plan.sources.map((s) => `WHEN ${d.literal(s.name)} THEN ${s.fields.length}`).join(' ')} END`;
  const share = (part: string, whole: string): string => `CAST(${part} AS DOUBLE) / NULLIF(${whole}, 0)`;
  await runAll(run, [
    ...(resolved ? [] : [`CREATE TEMP TABLE _ir_consistency (master_id VARCHAR, source VARCHAR, consistent INTEGER)`]),
    // Rewritten whole rather than updated row by row (cheaper in a column store), reading its previous self.
    `CREATE OR REPLACE TABLE ${xref} AS
     SELECT *, CASE WHEN fields_present > 0
         THEN (${share('fields_present', 'fields_mapped')} + ${share('fields_valid', 'fields_present')} + ${share('fields_consistent', 'fields_present')}) / 3 ELSE 0 END AS quality
     FROM (
       SELECT r._source AS source, r._key AS source_key, m.master_id AS ${key},
         CASE WHEN m.fresh THEN m.how ELSE x.matched_by END AS matched_by,
         CASE WHEN m.fresh THEN m.weight ELSE x.match_weight END AS match_weight,
         coalesce(x.first_run, ${runId}) AS first_run,
         CASE WHEN m.fresh OR x.record_hash IS DISTINCT FROM r._hash OR NOT x.active THEN ${runId} ELSE x.changed_run END AS changed_run,
         TRUE AS active, r._updated_at AS updated_at, r._hash AS record_hash,
         ${mapped} AS fields_mapped, r._present AS fields_present, r._valid AS fields_valid,
         CASE WHEN a.master_id IS NOT NULL THEN coalesce(k.consistent, 0) ELSE x.fields_consistent END AS fields_consistent
       FROM ${WORK.records} r JOIN ${WORK.members} m ON m._rec = r._rec
         LEFT JOIN ${xref} x ON x.source = r._source AND x.source_key = r._key
         LEFT JOIN ${WORK.affected} a ON a.master_id = m.master_id
         LEFT JOIN _ir_consistency k ON k.master_id = m.master_id AND k.source = r._source
     ) present
     UNION ALL
     SELECT source, source_key, ${key}, matched_by, match_weight, first_run, CASE WHEN active THEN ${runId} ELSE changed_run END,
       FALSE, updated_at, record_hash, fields_mapped, fields_present, fields_valid, fields_consistent, quality
     FROM ${xref} x WHERE NOT EXISTS (SELECT 1 FROM ${WORK.records} r WHERE r._source = x.source AND r._key = x.source_key)
     ${readableOrder(records, `${key}, source`)}`,
    `DROP TABLE _ir_consistency`,
  ]);
}
