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

export interface RecordChanges {
  /** Records new, changed (by hash) or back after being gone. */
  readonly changed: number;
  /** Records gone from their source since the last run. */
  readonly removed: number;
  /** Cross-reference rows of records not present now (gone this run or before). */
  readonly absent: number;
}

const CHANGED = `m.fresh OR p.record_hash IS DISTINCT FROM r._hash OR NOT p.active`;

export async function countChanges(run: IntegrationRun): Promise<RecordChanges> {
  const xref = goldTable(run, 'xref');
  const changed = await count(run, `SELECT count(*) FROM ${WORK.records} r JOIN ${WORK.members} m ON m._rec = r._rec LEFT JOIN ${WORK.prior} p ON p._rec = r._rec WHERE ${CHANGED}`);
  // Every present record that the cross-reference knows is in _ir_prior: the rest of its rows are absent records.
  const xrefRows = await count(run, `SELECT count(*) FROM ${xref}`);
  const xrefActive = await count(run, `SELECT count(*) FROM ${xref} WHERE active`);
  const priorRows = await count(run, `SELECT count(*) FROM ${WORK.prior}`);
  const priorActive = await count(run, `SELECT count(*) FROM ${WORK.prior} WHERE active`);
  return { changed, removed: xrefActive - priorActive, absent: xrefRows - priorRows };
}

/** Cross-reference rows whose record is not present now. */
function absentRows(run: IntegrationRun): string {
  return `${goldTable(run, 'xref')} x WHERE NOT EXISTS (SELECT 1 FROM ${WORK.prior} p WHERE p.source = x.source AND p.source_key = x.source_key)`;
}

/**
 * Entities to resolve again: every one (`all`), or those that gained, lost or changed a record — including the one an
 * override took a record from.
 */
export async function markAffected(run: IntegrationRun, all: boolean, changes: RecordChanges): Promise<number> {
  const key = run.d.quoteIdent(run.plan.key);
  if (all) {
    await run.tx.execute(`CREATE TEMP TABLE ${WORK.affected} AS SELECT DISTINCT master_id FROM ${WORK.members}`);
  } else {
    await run.tx.execute(`CREATE TEMP TABLE ${WORK.affected} AS
      SELECT m.master_id FROM ${WORK.records} r JOIN ${WORK.members} m ON m._rec = r._rec LEFT JOIN ${WORK.prior} p ON p._rec = r._rec WHERE ${CHANGED}
      UNION SELECT p.master_id FROM ${WORK.prior} p JOIN ${WORK.members} m ON m._rec = p._rec WHERE p.master_id <> m.master_id
      ${changes.removed > 0 ? `UNION SELECT x.${key} FROM ${absentRows(run)} AND x.active` : ''}`);
  }
  return count(run, `SELECT count(*) FROM ${WORK.affected}`);
}

/**
 * Writes the cross-reference: present records with their (possibly new) master id, fresh hash and figures —
 * recomputed for re-resolved entities (`_ir_consistency`, when `resolved`), carried over for the rest — and records
 * no longer present, inactive. When only a few entities changed, only their records' rows are replaced; otherwise the
 * table is rewritten whole (cheaper in a column store than updating most rows).
 */
export async function rewriteCrossReference(run: IntegrationRun, options: { resolved: boolean; all: boolean; records: number; affected: number; changes: RecordChanges }): Promise<void> {
  const { d, plan, runId } = run;
  const { changes } = options;
  const xref = goldTable(run, 'xref');
  const key = d.quoteIdent(plan.key);
  const mapped = `CASE r._source ${plan.sources.map((s) => `WHEN ${d.literal(s.name)} THEN ${s.fields.length}`).join(' ')} END`;
  const share = (part: string, whole: string): string => `CAST(${part} AS DOUBLE) / NULLIF(${whole}, 0)`;
  const present = (where: string): string => `SELECT *, CASE WHEN fields_present > 0
         THEN (${share('fields_present', 'fields_mapped')} + ${share('fields_valid', 'fields_present')} + ${share('fields_consistent', 'fields_present')}) / 3 ELSE 0 END AS quality
     FROM (
       SELECT r._source AS source, r._key AS source_key, m.master_id AS ${key},
         CASE WHEN m.fresh THEN m.how ELSE p.matched_by END AS matched_by,
         CASE WHEN m.fresh THEN m.weight ELSE p.match_weight END AS match_weight,
         coalesce(p.first_run, ${runId}) AS first_run,
         CASE WHEN ${CHANGED} THEN ${runId} ELSE p.changed_run END AS changed_run,
         TRUE AS active, r._updated_at AS updated_at, r._hash AS record_hash,
         ${mapped} AS fields_mapped, r._present AS fields_present, r._valid AS fields_valid,
         CASE WHEN k._rec IS NOT NULL THEN k.consistent ELSE p.fields_consistent END AS fields_consistent
       FROM ${WORK.records} r JOIN ${WORK.members} m ON m._rec = r._rec
         LEFT JOIN ${WORK.prior} p ON p._rec = r._rec
         LEFT JOIN _ir_consistency k ON k._rec = r._rec
       ${where}
     ) present`;
  const absent = `SELECT source, source_key, ${key}, matched_by, match_weight, first_run, CASE WHEN active THEN ${runId} ELSE changed_run END,
       FALSE, updated_at, record_hash, fields_mapped, fields_present, fields_valid, fields_consistent, quality
     FROM ${absentRows(run)}`;
  if (!options.resolved) await run.tx.execute(`CREATE TEMP TABLE _ir_consistency (_rec BIGINT, consistent INTEGER)`);
  const whole = options.all || options.affected * 4 > options.records || (await count(run, `SELECT count(*) FROM ${xref}`)) === 0;
  if (whole) {
    await run.tx.execute(`CREATE OR REPLACE TABLE ${xref} AS ${present('')}
      ${changes.absent > 0 ? `UNION ALL ${absent}` : ''}
      ${readableOrder(options.records, `${key}, source`)}`);
  } else {
    // Every record whose row changes belongs to an affected entity (a new, changed or moved record makes its entity affected).
    await runAll(run, [
      `CREATE TEMP TABLE _ir_xref_rows AS ${present(`WHERE m.master_id IN (SELECT master_id FROM ${WORK.affected})`)}`,
      `DELETE FROM ${xref} WHERE EXISTS (SELECT 1 FROM _ir_xref_rows n WHERE n.source = ${xref}.source AND n.source_key = ${xref}.source_key)`,
      `INSERT INTO ${xref} SELECT * FROM _ir_xref_rows`,
      ...(changes.removed > 0
        ? [`UPDATE ${xref} SET active = FALSE, changed_run = ${runId} WHERE active AND NOT EXISTS (SELECT 1 FROM ${WORK.prior} p WHERE p.source = ${xref}.source AND p.source_key = ${xref}.source_key)`]
        : []),
      `DROP TABLE _ir_xref_rows`,
    ]);
  }
  await run.tx.execute(`DROP TABLE _ir_consistency`);
}
