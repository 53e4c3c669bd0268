import type { Plan, SilverPlan } from '../config/plan.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { BRONZE_LINEAGE, CHANGE_LINEAGE } from './bronze-ingest.js';
import { replacedBatches } from './bronze-batches.js';
import { arrival } from './silver-merge.js';
import { compileCandidates } from './silver-sql.js';
import { readTableState } from './table-state.js';
import { plural } from '../text.js';

export interface TableAudit {
  readonly table: string;
  readonly source: string;
  /** Bronze rows the table has consumed. */
  readonly bronze: number;
  readonly silver: number;
  readonly quarantined: number;
  /** Valid rows that lost to a later version of their key (or were deleted later). */
  readonly superseded: number;
  /** Rows of batches replaced by a newer version of the same file, or by a newer full extract. */
  readonly replaced: number;
  /** Delete markers from a database source (they remove rows; they are not rows). */
  readonly deleteMarkers: number;
  /** Bronze rows in batches the table has not processed yet (not an imbalance). */
  readonly pending: number;
  /** Bronze rows found nowhere: not in silver, not quarantined, not superseded. */
  readonly lost: number;
  /** Silver or quarantine rows that do not come from a consumed bronze row, or appear twice. */
  readonly unexpected: number;
  readonly balanced: boolean;
  /** In plain words, what is wrong, when something is. */
  readonly problems: readonly string[];
}

export interface AuditReport {
  readonly balanced: boolean;
  readonly tables: readonly TableAudit[];
  readonly refusedFiles: readonly { source: string; path: string; reason: string }[];
}

/**
 * Recomputes the conservation law from the warehouse alone: every bronze row a silver table has consumed is in
 * silver, in quarantine, or superseded by a later version of its key — exactly once. Rows are matched by their
 * lineage (batch + row), and a row's key is recomputed from bronze with the table's own rules, so the audit
 * does not trust the counters the runs recorded.
 */
export async function auditWarehouse(plan: Plan, warehouse: Warehouse): Promise<AuditReport> {
  const tables: TableAudit[] = [];
  for (const table of plan.silver) tables.push(await auditTable(plan, warehouse, table));
  const { rows } = await warehouse.query(
    `SELECT f.source, f.path, f.reason FROM refinery.files f
     WHERE f.status = 'refused' AND NOT EXISTS (SELECT 1 FROM refinery.files g WHERE g.source = f.source AND g.path = f.path AND g.seen_at > f.seen_at)
     ORDER BY f.source, f.path`,
  );
  return {
    balanced: tables.every((t) => t.balanced),
    tables,
    refusedFiles: rows.map((r) => ({ source: String(r.source), path: String(r.path), reason: String(r.reason) })),
  };
}

async function auditTable(plan: Plan, warehouse: Warehouse, table: SilverPlan): Promise<TableAudit> {
  const d = warehouse.dialect;
  const name = `silver.${table.name}`;
  const state = await readTableState(warehouse, name);
  const bronzeAll = await warehouse.introspector.columns('bronze', table.source);
  const silverExists = await warehouse.introspector.tableExists('silver', table.name);
  const quarantineExists = await warehouse.introspector.tableExists('quarantine', table.name);
  const last = state?.lastBatchId ?? 0;
  const empty = { table: name, source: table.source, bronze: 0, silver: 0, quarantined: 0, superseded: 0, replaced: 0, deleteMarkers: 0, pending: 0, lost: 0, unexpected: 0 };
  if (state && state.fingerprint !== table.fingerprint) {
    // The table was built with other rules than the project file has now: recomputing with the new ones would
    // report rows as lost that were simply judged by the old rules.
    return { ...empty, balanced: false, problems: [`its rules changed since it was last built; run \`refinery run\` to rebuild it, then audit again`] };
  }
  if (bronzeAll.length === 0 || !silverExists) {
    const pending = bronzeAll.length === 0 ? 0 : Number((await warehouse.query(`SELECT count(*) AS n FROM ${d.table('bronze', table.source)}`)).rows[0]?.n ?? 0);
    return { ...empty, pending, balanced: true, problems: [] };
  }
  const bronzeColumns = bronzeAll.filter((c) => !([...BRONZE_LINEAGE, ...CHANGE_LINEAGE] as readonly string[]).includes(c.name));
  const hasOp = bronzeAll.some((c) => c.name === '_op');
  const replaced = (await replacedBatches(warehouse, table.source)).filter((b) => b <= last);
  const candidates = compileCandidates(d, { table, bronzeColumns, hasOp, batches: { after: 0, upTo: last, excluded: replaced } });
  const keys = table.key.map((k) => d.quoteIdent(k));
  const silverT = d.table('silver', table.name);
  const quarantineT = quarantineExists ? d.table('quarantine', table.name) : `(SELECT NULL::BIGINT AS _batch_id, NULL::BIGINT AS _source_row WHERE FALSE)`;
  const keyMatch = keys.length > 0 ? `EXISTS (SELECT 1 FROM ${silverT} s WHERE ${keys.map((k) => `s.${k} = c.${k}`).join(' AND ')})` : 'FALSE';
  const deletedLater =
    keys.length > 0 && hasOp
      ? `EXISTS (SELECT 1 FROM c AS x WHERE x._op = 'delete' AND ${keys.map((k) => `x.${k} = c.${k}`).join(' AND ')} AND ${arrival('x.')} > ${arrival('c.')})`
      : 'FALSE';
  const sql = `WITH c AS (${candidates}),
  s AS (SELECT _batch_id, _source_row, count(*) AS n FROM ${silverT} GROUP BY ALL),
  q AS (SELECT _batch_id, _source_row, count(*) AS n FROM ${quarantineT} GROUP BY ALL),
  fate AS (
    SELECT c._reason, coalesce(c._op, '') = 'delete' AS is_delete,
      s.n AS in_silver, q.n AS in_quarantine,
      ${keyMatch} OR ${deletedLater} AS superseded_ok
    FROM c LEFT JOIN s USING (_batch_id, _source_row) LEFT JOIN q USING (_batch_id, _source_row)
  )
  SELECT
    count(*) AS considered,
    count_if(is_delete) AS delete_markers,
    count_if(NOT is_delete AND in_silver IS NULL AND in_quarantine IS NULL AND _reason IS NULL AND superseded_ok) AS superseded,
    count_if(NOT is_delete AND in_silver IS NULL AND in_quarantine IS NULL AND NOT (_reason IS NULL AND superseded_ok)) AS lost,
    count_if(in_silver IS NOT NULL AND in_quarantine IS NOT NULL) AS both,
    (SELECT count(*) FROM ${silverT}) AS silver,
    (SELECT count(*) FROM ${quarantineT}) AS quarantined,
    (SELECT coalesce(sum(n), 0) FROM s WHERE n > 1 OR (_batch_id, _source_row) NOT IN (SELECT (_batch_id, _source_row) FROM c)) AS silver_unexpected,
    (SELECT coalesce(sum(n), 0) FROM q WHERE n > 1 OR (_batch_id, _source_row) NOT IN (SELECT (_batch_id, _source_row) FROM c)) AS quarantine_unexpected,
    (SELECT count(*) FROM ${d.table('bronze', table.source)} WHERE _batch_id > ${last}) AS pending,
    (SELECT count(*) FROM ${d.table('bronze', table.source)} WHERE _batch_id <= ${last}${replaced.length ? ` AND _batch_id IN (${replaced.join(', ')})` : ' AND FALSE'}) AS replaced
  FROM fate`;
  const { rows } = await warehouse.query(sql);
  const r = rows[0] ?? {};
  const n = (k: string): number => Number(r[k] ?? 0);
  const problems: string[] = [];
  // `1 bronze row is`, `2 bronze rows are`.
  const rowsAre = (k: string, what: string, verbs: [string, string]): string => `${plural(n(k), `${what} row`)} ${n(k) === 1 ? verbs[0] : verbs[1]}`;
  if (n('lost') > 0) problems.push(`${rowsAre('lost', 'bronze', ['is', 'are'])} in neither silver nor quarantine and ${n('lost') === 1 ? 'was' : 'were'} not superseded`);
  if (n('both') > 0) problems.push(`${rowsAre('both', 'bronze', ['is', 'are'])} in both silver and quarantine`);
  if (n('silver_unexpected') > 0) problems.push(`${rowsAre('silver_unexpected', 'silver', ['does', 'do'])} not come from exactly one consumed bronze row`);
  if (n('quarantine_unexpected') > 0) problems.push(`${rowsAre('quarantine_unexpected', 'quarantined', ['does', 'do'])} not come from exactly one consumed bronze row`);
  const audit = {
    table: name,
    source: table.source,
    bronze: n('considered') + n('replaced'),
    silver: n('silver'),
    quarantined: n('quarantined'),
    superseded: n('superseded'),
    replaced: n('replaced'),
    deleteMarkers: n('delete_markers'),
    pending: n('pending'),
    lost: n('lost'),
    unexpected: n('silver_unexpected') + n('quarantine_unexpected') + n('both'),
  };
  const accounted = audit.silver + audit.quarantined + audit.superseded + audit.replaced + audit.deleteMarkers;
  if (audit.bronze !== accounted && problems.length === 0) {
    problems.push(`bronze ${audit.bronze} ≠ silver ${audit.silver} + quarantined ${audit.quarantined} + superseded ${audit.superseded} + replaced ${audit.replaced} + delete markers ${audit.deleteMarkers}`);
  }
  return { ...audit, balanced: problems.length === 0, problems };
}
