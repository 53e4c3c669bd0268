import type { CheckPlan, ColumnPlan, SilverPlan } from '../config/plan.js';
import type { ColumnInfo, SqlDialect } from '../warehouse/warehouse.js';
import { BRONZE_LINEAGE } from './bronze-ingest.js';
import { applyCleanRule } from './cleaning-rules.js';

/** Lineage every silver row keeps from the bronze row it came from. */
export const SILVER_LINEAGE = ['_batch_id', '_source_file', '_source_row', '_row_hash'] as const;

/** Reason given to rows the CSV reader could not split into columns; it comes before every declared check. */
export const MALFORMED_ROW = 'malformed_row';

export const rawName = (column: string): string => `__raw__${column}`;
export const cleanName = (column: string): string => `__clean__${column}`;

export interface SilverSqlInput {
  readonly table: SilverPlan;
  /** Data columns of the bronze table (lineage excluded), with engine types. */
  readonly bronzeColumns: readonly ColumnInfo[];
  /** Only bronze batches in (after, upTo] are read, except replaced ones. */
  readonly batches: { readonly after: number; readonly upTo: number; readonly excluded?: readonly number[] };
  /** Bronze carries change rows (`_op`: insert/update/delete) from a database source. */
  readonly hasOp?: boolean;
  /** Read this table instead of bronze.<source> (a staged preview, for `refinery plan`). */
  readonly sourceTable?: string;
}

/**
 * Compiles a silver table's declared rules into one set-based SELECT over bronze:
 * raw → cleaned text → typed values → checked (a `_reason` for the first failing check, `_detail` in words).
 * Everything happens in the engine; the result is materialised once and then split into silver and quarantine.
 */
export function compileCandidates(d: SqlDialect, input: SilverSqlInput): string {
  const { table, bronzeColumns, batches } = input;
  const bronzeTypes = new Map(bronzeColumns.map((c) => [c.name, c.type]));
  const q = (n: string): string => d.quoteIdent(n);

  const cleaned = table.columns.map((c) => `${cleanExpr(d, c, bronzeTypes)} AS ${q(cleanName(c.name))}`);
  const typed = table.columns.map((c) => `${c.type === 'text' ? q(cleanName(c.name)) : d.parse(q(cleanName(c.name)), c.type, c.formats)} AS ${q(c.name)}`);
  const reasonChecks = table.checks.filter((c) => c.action !== 'warn');
  // A delete marker carries only its key: it is not checked, it removes (or closes) what it deletes.
  const reason = [`WHEN _op = 'delete' THEN NULL`, `WHEN _load_error IS NOT NULL THEN ${d.literal(MALFORMED_ROW)}`, ...reasonChecks.map((c) => `WHEN NOT ${passes(d, table, c)} THEN ${d.literal(c.name)}`)];
  const detail = [`WHEN _op = 'delete' THEN NULL`, `WHEN _load_error IS NOT NULL THEN _load_error`, ...reasonChecks.map((c) => `WHEN NOT ${passes(d, table, c)} THEN ${detailExpr(d, table, c)}`)];
  const warnings = table.checks.filter((c) => c.action === 'warn').map((c) => `${passes(d, table, c)} AS ${q(`__warn__${c.name}`)}`);

  const excluded = batches.excluded?.length ? ` AND _batch_id NOT IN (${batches.excluded.join(', ')})` : '';
  return `WITH src AS (
  SELECT * FROM ${input.sourceTable ?? d.table('bronze', table.source)} WHERE _batch_id > ${batches.after} AND _batch_id <= ${batches.upTo}${excluded}
), cleaned AS (
  SELECT ${[...BRONZE_LINEAGE.map(q), input.hasOp ? '_op' : 'CAST(NULL AS VARCHAR) AS _op', ...bronzeColumns.map((c) => `${q(c.name)} AS ${q(rawName(c.name))}`), ...cleaned].join(',\n    ')}
  FROM src
), typed AS (
  SELECT *, ${typed.join(',\n    ')}
  FROM cleaned
)
SELECT *,
  CASE ${reason.join('\n    ')} END AS _reason,
  CASE ${detail.join('\n    ')} END AS _detail${warnings.length > 0 ? `,\n  ${warnings.join(',\n  ')}` : ''}
FROM typed`;
}

function cleanExpr(d: SqlDialect, column: ColumnPlan, bronzeTypes: ReadonlyMap<string, string>): string {
  let expr = column.sql ? `(${column.sql})` : d.quoteIdent(column.from);
  const sourceType = column.sql ? undefined : bronzeTypes.get(column.from);
  // Rules work on text: typed sources (Parquet) are cast to text first and typed again afterwards.
  if (sourceType !== 'VARCHAR') expr = `CAST(${expr} AS VARCHAR)`;
  for (const rule of column.clean) expr = applyCleanRule(d, expr, rule);
  return column.keepEmpty ? expr : `NULLIF(${expr}, '')`;
}

function columnOf(table: SilverPlan, check: CheckPlan): ColumnPlan | undefined {
  return check.column === undefined ? undefined : table.columns.find((c) => c.name === check.column);
}

/** Boolean SQL: does the row pass the check? NULL counts as failing, so a missing value never slips through. */
export function passes(d: SqlDialect, table: SilverPlan, check: CheckPlan): string {
  const column = columnOf(table, check);
  const x = column ? d.quoteIdent(column.name) : 'NULL';
  const rule = check.rule;
  let condition: string;
  if (rule === 'not_null') condition = `${x} IS NOT NULL`;
  else if (rule === 'parses') condition = `(${d.quoteIdent(cleanName(column?.name ?? ''))} IS NULL OR ${x} IS NOT NULL)`;
  else if ('matches' in rule) condition = d.regexFullMatch(column?.type === 'text' ? x : `CAST(${x} AS VARCHAR)`, rule.matches);
  // A text column compares with text, whatever the project file wrote: in: [1, 2] means '1', '2' there.
  else if ('in' in rule) condition = `${x} IN (${rule.in.map((v) => d.literal(column?.type === 'text' ? String(v) : v)).join(', ')})`;
  else if ('references' in rule) {
    const [, target, targetColumn] = rule.references.split('.') as [string, string, string];
    condition = `${x} IN (SELECT ${d.quoteIdent(targetColumn)} FROM ${d.table('silver', target)})`;
  } else if ('sql' in rule) condition = `(${rule.sql})`;
  else {
    const bounds = [rule.min === undefined ? undefined : `${x} >= ${rule.min}`, rule.max === undefined ? undefined : `${x} <= ${rule.max}`];
    condition = bounds.filter((b) => b !== undefined).join(' AND ');
  }
  return `coalesce(${condition}, FALSE)`;
}

/** What the check requires, in words: the second half of a quarantined row's `_detail`. */
export function requirement(table: SilverPlan, check: CheckPlan): string {
  const column = columnOf(table, check);
  const type = column?.type ?? 'text';
  const typeWords = type === 'integer' ? 'a whole number' : type === 'text' ? 'text' : `a valid ${type}`;
  const rule = check.rule;
  if (rule === 'not_null') return type === 'text' ? 'must not be empty' : `must be ${typeWords}`;
  if (rule === 'parses') return `must be ${typeWords}${column?.formats.length ? ` (${column.formats.join(' or ')})` : ''}`;
  if ('matches' in rule) return `must match ${rule.matches}`;
  if ('in' in rule) return `must be one of ${rule.in.join(', ')}`;
  if ('references' in rule) return `must exist in ${rule.references}`;
  if ('sql' in rule) return `must satisfy ${rule.sql}`;
  const parts = [rule.min === undefined ? undefined : `≥ ${rule.min}`, rule.max === undefined ? undefined : `≤ ${rule.max}`].filter(Boolean);
  return `must be ${typeWords} ${parts.join(' and ')}`;
}

function detailExpr(d: SqlDialect, table: SilverPlan, check: CheckPlan): string {
  const column = columnOf(table, check);
  if (!column) return d.literal(requirement(table, check));
  const shown = `coalesce('''' || ${d.quoteIdent(cleanName(column.name))} || '''', '(empty)')`;
  return `${d.literal(`${column.name} `)} || ${shown} || ${d.literal(` ${requirement(table, check)}`)}`;
}

/** SQL DDL for the silver table: the declared columns, typed, history or delete columns, then lineage. */
export function silverColumnsDdl(d: SqlDialect, table: SilverPlan): string {
  return [
    ...table.columns.map((c) => `${d.quoteIdent(c.name)} ${d.sqlType(c.type)}`),
    ...(table.materialize === 'scd2' ? ['valid_from TIMESTAMP', 'valid_to TIMESTAMP', 'is_current BOOLEAN'] : []),
    ...(table.deletes === 'soft' ? ['_deleted BOOLEAN DEFAULT FALSE'] : []),
    `_batch_id BIGINT`,
    `_source_file VARCHAR`,
    `_source_row BIGINT`,
    `_row_hash VARCHAR`,
  ].join(', ');
}

/**
 * Ordering that decides which version of a key survives: the greatest `latest` values, then the row that
 * arrived last (later batch, later file in path order, later row). NULL `latest` values lose.
 */
export function latestFirst(d: SqlDialect, table: SilverPlan, alias = ''): string {
  const p = alias ? `${alias}.` : '';
  return [...table.latest.map((c) => `${p}${d.quoteIdent(c)} DESC NULLS LAST`), `${p}_batch_id DESC`, `${p}_source_file DESC`, `${p}_source_row DESC`].join(', ');
}

/** Boolean SQL: does row `a` win over row `b` of the same key under `latestFirst`? */
export function beats(d: SqlDialect, table: SilverPlan, a: string, b: string): string {
  const keys = [...table.latest.map((c) => d.quoteIdent(c)), '_batch_id', '_source_file', '_source_row'];
  let expr = 'FALSE';
  for (const k of [...keys].reverse()) {
    expr = `CASE WHEN ${a}.${k} IS NOT DISTINCT FROM ${b}.${k} THEN ${expr} WHEN ${a}.${k} IS NULL THEN FALSE WHEN ${b}.${k} IS NULL THEN TRUE ELSE ${a}.${k} > ${b}.${k} END`;
  }
  return expr;
}
