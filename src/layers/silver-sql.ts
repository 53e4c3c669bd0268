import type { CheckPlan, ColumnPlan, SilverPlan } from '../config/plan.js';
import type { ColumnInfo, SqlDialect } from '../warehouse/warehouse.js';
import { BRONZE_LINEAGE } from './bronze-ingest.js';
import { applyCleanRule } from './cleaning-rules.js';

/** Lineage every silver row keeps from the bronze row it came from. */
export const SILVER_LINEAGE = ['_batch_id', '_source_file', '_source_row', '_row_hash'] as const;

/** Reason given to rows the CSV reader could not split into columns; it comes before every declared check. */
export const MALFORMED_ROW = 'malformed_row';

/** Reason given to rows a schema contract sets aside (discard_row); it comes right after malformed_row. */
export const SCHEMA_VIOLATION = 'schema_violation';

/**
 * What a table's schema contract does to candidate rows (see silver-contract.ts). Conditions and details are SQL
 * over the bronze columns and lineage of a row, the source's name already in them.
 */
export interface SchemaRules {
  /** Rows set aside as schema_violation, each rule with its detail in words (an SQL text expression). */
  readonly violations: readonly { readonly when: string; readonly detail: string }[];
  /** Values that become NULL (discard_value), before cleaning, so no check mistakes them for unparsable text. */
  readonly nulls: readonly { readonly column: string; readonly when: string }[];
}

export const rawName = (column: string): string => `__raw__${column}`;
export const cleanName = (column: string): string => `__clean__${column}`;
/** Number of the first reason a candidate row is set aside for (see compileCandidates); NULL when there is none. */
const FIRST_FAILURE = '__first_failure';

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
  /** The table's schema contract at work: rows set aside and values discarded. */
  readonly schema?: SchemaRules;
}

/**
 * Compiles a silver table's declared rules into one set-based SELECT over bronze:
 * raw → cleaned text → typed values → checked (a `_reason` for the first failing check, `_detail` in words).
 * Everything happens in the engine; the result is materialised once and then split into silver and quarantine.
 * It holds lineage, `_op`, raw and typed columns, `_reason`, `_detail` and a `__warn__<check>` flag per warn check.
 */
export function compileCandidates(d: SqlDialect, input: SilverSqlInput): string {
  const { table, bronzeColumns, batches } = input;
  const bronzeTypes = new Map(bronzeColumns.map((c) => [c.name, c.type]));
  const q = (n: string): string => d.quoteIdent(n);

  const nulls = new Map((input.schema?.nulls ?? []).map((n) => [n.column, n.when]));
  const cleaned = table.columns.map((c) => {
    const when = nulls.get(c.name);
    return `${when ? `CASE WHEN ${when} THEN NULL ELSE ${cleanExpr(d, c, bronzeTypes)} END` : cleanExpr(d, c, bronzeTypes)} AS ${q(cleanName(c.name))}`;
  });
  const violations = input.schema?.violations ?? [];
  // Decided over the bronze row, where the contract's conditions are written; reported through _reason below.
  if (violations.length > 0) cleaned.push(`CASE ${violations.map((v) => `WHEN ${v.when} THEN ${v.detail}`).join(' ')} END AS __schema_detail`);
  const typed = table.columns.map((c) => `${c.type === 'text' ? q(cleanName(c.name)) : d.parse(q(cleanName(c.name)), c.type, c.formats)} AS ${q(c.name)}`);
  const reasonChecks = table.checks.filter((c) => c.action !== 'warn');
  // Why a row is set aside, in order: the first that applies gives its _reason and _detail. Each condition is
  // evaluated once per row (and, as in a CASE, not after the first that applies); the reason and detail are then
  // looked up by its number. A delete marker carries only its key: it is not checked, it removes (or closes) what
  // it deletes.
  const failures = [
    { when: '_load_error IS NOT NULL', reason: d.literal(MALFORMED_ROW), detail: '_load_error' },
    ...(violations.length > 0 ? [{ when: '__schema_detail IS NOT NULL', reason: d.literal(SCHEMA_VIOLATION), detail: '__schema_detail' }] : []),
    ...reasonChecks.map((c) => ({ when: `NOT ${passes(d, table, c)}`, reason: d.literal(c.name), detail: detailExpr(d, table, c) })),
  ];
  const failed = q(FIRST_FAILURE);
  const firstFailure = [`WHEN _op = 'delete' THEN NULL`, ...failures.map((f, i) => `WHEN ${f.when} THEN ${i}`)];
  const reason = failures.map((f, i) => `WHEN ${i} THEN ${f.reason}`);
  const detail = failures.map((f, i) => `WHEN ${i} THEN ${f.detail}`);
  const warnings = table.checks.filter((c) => c.action === 'warn').map((c) => `${passes(d, table, c)} AS ${q(`__warn__${c.name}`)}`);
  // What the materialised candidates keep: the cleaned text was only needed on the way.
  const kept = [...BRONZE_LINEAGE.map(q), '_op', ...bronzeColumns.map((c) => q(rawName(c.name))), ...(violations.length > 0 ? ['__schema_detail'] : []), ...table.columns.map((c) => q(c.name))];

  const excluded = batches.excluded?.length ? ` AND _batch_id NOT IN (${batches.excluded.join(', ')})` : '';
  return `WITH src AS (
  SELECT * FROM ${input.sourceTable ?? d.table('bronze', table.source)} WHERE _batch_id > ${batches.after} AND _batch_id <= ${batches.upTo}${excluded}
), cleaned AS (
  SELECT ${[...BRONZE_LINEAGE.map(q), input.hasOp ? '_op' : 'CAST(NULL AS VARCHAR) AS _op', ...bronzeColumns.map((c) => `${q(c.name)} AS ${q(rawName(c.name))}`), ...cleaned].join(',\n    ')}
  FROM src
), typed AS (
  SELECT *, ${typed.join(',\n    ')}
  FROM cleaned
), checked AS (
  SELECT *,
    CASE ${firstFailure.join('\n      ')} END AS ${failed}
  FROM typed
)
SELECT ${kept.join(', ')},
  CASE ${failed} ${reason.join('\n    ')} END AS _reason,
  CASE ${failed} ${detail.join('\n    ')} END AS _detail${warnings.length > 0 ? `,\n  ${warnings.join(',\n  ')}` : ''}
FROM checked`;
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

/**
 * SQL DDL for the silver table: the declared columns, typed, history or delete columns, lineage, then the columns
 * passed through by the schema contract — last, where adding them in place puts them too.
 */
export function silverColumnsDdl(d: SqlDialect, table: SilverPlan): string {
  const column = (c: ColumnPlan): string => `${d.quoteIdent(c.name)} ${d.sqlType(c.type)}`;
  return [
    ...table.columns.filter((c) => !c.passthrough).map(column),
    ...(table.materialize === 'scd2' ? ['valid_from TIMESTAMP', 'valid_to TIMESTAMP', 'is_current BOOLEAN'] : []),
    ...(table.deletes === 'soft' ? ['_deleted BOOLEAN DEFAULT FALSE'] : []),
    `_batch_id BIGINT`,
    `_source_file VARCHAR`,
    `_source_row BIGINT`,
    `_row_hash VARCHAR`,
    ...table.columns.filter((c) => c.passthrough).map(column),
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
