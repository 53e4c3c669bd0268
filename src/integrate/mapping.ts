import { applyCleanRule } from '../layers/cleaning-rules.js';
import type { ValidityRule } from '../config/types.js';
import type { SqlDialect } from '../warehouse/warehouse.js';
import { normalise } from './compatibility.js';
import type { IntegrationFieldPlan, IntegrationPlan, IntegrationSourcePlan, SourceFieldPlan } from './integration-plan.js';
import { count, normColumn, rawColumn, WORK, type IntegrationRun } from './integration-run.js';

/** Fields whose normalised value matching needs (deterministic rules, fuzzy comparisons, blocking keys). */
export function matchingFields(plan: IntegrationPlan): Set<string> {
  const used = new Set<string>(plan.match.deterministic.flat());
  for (const c of plan.match.fuzzy?.compare ?? []) used.add(c.field);
  for (const rule of plan.match.fuzzy?.blocking ?? []) for (const key of rule) if ('field' in key) used.add(key.field);
  return used;
}

/** A field keeps its source's original text beside the canonical value only when mapping can change it. */
export function keepsRaw(plan: IntegrationPlan, field: IntegrationFieldPlan): boolean {
  return field.clean.length > 0 || plan.sources.some((s) => s.fields.some((f) => f.field === field.name && f.values.length > 0));
}

function sourceText(d: SqlDialect, mapping: SourceFieldPlan): string {
  const expr = mapping.sql ? `(${mapping.sql})` : d.quoteIdent(mapping.column ?? mapping.field);
  return `NULLIF(${d.trim(`CAST(${expr} AS VARCHAR)`)}, '')`;
}

/** Source text → canonical value: the source's value map first (exact match), then the field's cleaning rules. */
function canonical(d: SqlDialect, field: IntegrationFieldPlan, mapping: SourceFieldPlan, raw: string): string {
  let expr = raw;
  if (mapping.values.length > 0) expr = `CASE ${raw} ${mapping.values.map(([from, to]) => `WHEN ${d.literal(from)} THEN ${d.literal(to)}`).join(' ')} ELSE ${raw} END`;
  for (const rule of field.clean) expr = applyCleanRule(d, expr, rule);
  return field.clean.length > 0 ? `NULLIF(${expr}, '')` : expr;
}

/** Boolean SQL: is the (non-null) canonical value valid by the field's rule? */
export function validExpr(d: SqlDialect, value: string, rule: ValidityRule | undefined): string {
  if (!rule) return 'TRUE';
  if ('matches' in rule) return `coalesce(${d.regexFullMatch(value, rule.matches)}, FALSE)`;
  if ('in' in rule) return `coalesce(${value} IN (${rule.in.map((v) => d.literal(String(v))).join(', ')}), FALSE)`;
  const n = d.parse(value, 'double');
  const bounds = [rule.min === undefined ? '' : `${n} >= ${rule.min}`, rule.max === undefined ? '' : `${n} <= ${rule.max}`].filter(Boolean);
  return `coalesce(${bounds.join(' AND ') || 'TRUE'}, FALSE)`;
}

/** The engine types of a source table's columns (DATE, TIMESTAMP, BIGINT, VARCHAR, ...). */
export type ColumnTypes = ReadonlyMap<string, string>;

function businessTime(d: SqlDialect, source: IntegrationSourcePlan, types: ColumnTypes): string {
  if (!source.updatedAt) return 'CAST(NULL AS TIMESTAMP)';
  const column = d.quoteIdent(source.updatedAt);
  // Silver usually types it already; only text needs parsing (a value that does not parse counts as unknown).
  return /^(DATE|TIMESTAMP)/i.test(types.get(source.updatedAt) ?? '') ? `CAST(${column} AS TIMESTAMP)` : d.parse(`CAST(${column} AS VARCHAR)`, 'timestamp');
}

function sourceSelect(d: SqlDialect, plan: IntegrationPlan, source: IntegrationSourcePlan, types: ColumnTypes): string {
  const q = (n: string): string => d.quoteIdent(n);
  const key = /^(BIGINT|INTEGER|HUGEINT|SMALLINT|UBIGINT)$/i.test(types.get(source.key) ?? '') ? `CAST(${q(source.key)} AS VARCHAR)` : d.trim(`CAST(${q(source.key)} AS VARCHAR)`);
  const columns = [`${d.literal(source.name)} AS _source`, `${source.rank} AS _src`, `${key} AS _key`, `${businessTime(d, source, types)} AS _updated_at`];
  for (const field of plan.fields) {
    const mapping = source.fields.find((f) => f.field === field.name);
    const raw = mapping ? sourceText(d, mapping) : 'CAST(NULL AS VARCHAR)';
    columns.push(`${mapping ? canonical(d, field, mapping, raw) : 'CAST(NULL AS VARCHAR)'} AS ${q(field.name)}`);
    if (keepsRaw(plan, field)) columns.push(`${raw} AS ${q(rawColumn(field.name))}`);
  }
  return `SELECT ${columns.join(', ')} FROM ${d.table(source.schema, source.table)} WHERE ${q(source.key)} IS NOT NULL`;
}

export interface MappingSummary {
  readonly records: number;
  /** Records dropped because another record of the same source had the same key and was more recent. */
  readonly duplicates: number;
}

/**
 * Maps every source's records to the canonical fields in one set-based pass: value maps, cleaning, the business
 * timestamp, a hash of everything mapped (to see which records changed since the last run), and per record how many
 * fields it fills and how many of those are valid. With `ordered`, records get ids in (priority, key) order, so
 * matching's ties break the same way on every run (matching by key alone needs no such order, and skips the sort).
 */
export async function mapRecords(run: IntegrationRun, types: ReadonlyMap<string, ColumnTypes>, ordered: boolean): Promise<MappingSummary> {
  const { d, plan, tx } = run;
  const q = (n: string): string => d.quoteIdent(n);
  const used = matchingFields(plan);
  const mapped = ['_source', '_src', '_key', '_updated_at', ...plan.fields.flatMap((f) => [q(f.name), ...(keepsRaw(plan, f) ? [q(rawColumn(f.name))] : [])])];
  const present = plan.fields.map((f) => `CASE WHEN ${q(f.name)} IS NOT NULL THEN 1 ELSE 0 END`).join(' + ');
  const valid = plan.fields.map((f) => `CASE WHEN ${q(f.name)} IS NOT NULL AND ${validExpr(d, q(f.name), f.valid)} THEN 1 ELSE 0 END`).join(' + ');
  const norms = plan.fields.filter((f) => used.has(f.name)).map((f) => `${normalise(d, f.kind, q(f.name))} AS ${q(normColumn(f.name))}`);
  const records = (from: string): string => `CREATE TEMP TABLE ${WORK.records} AS
    SELECT row_number() OVER (${ordered ? 'ORDER BY _src, _key' : ''}) AS _rec, ${mapped.join(', ')}, ${d.changeHash(mapped.slice(3))} AS _hash, ${present} AS _present, ${valid} AS _valid${norms.length ? `, ${norms.join(', ')}` : ''}
    FROM ${from}`;
  await tx.execute(records(`(${plan.sources.map((s) => sourceSelect(d, plan, s, types.get(s.name) ?? new Map())).join('\nUNION ALL\n')}) mapped`));
  const total = await count(run, `SELECT count(*) FROM ${WORK.records}`);
  const duplicateKeys = await count(run, `SELECT count(*) FROM (SELECT _src, _key FROM ${WORK.records} GROUP BY _src, _key HAVING count(*) > 1) dup`);
  if (duplicateKeys === 0) return { records: total, duplicates: 0 };
  // One record per source and key: the most recently updated one (then the greatest hash, to be deterministic).
  await tx.execute(`CREATE TEMP TABLE _ir_deduped AS SELECT ${mapped.join(', ')} FROM (
    SELECT *, row_number() OVER (PARTITION BY _src, _key ORDER BY _updated_at DESC NULLS LAST, _hash DESC) AS _rank FROM ${WORK.records}) ranked WHERE _rank = 1`);
  await tx.execute(`DROP TABLE ${WORK.records}`);
  await tx.execute(records('_ir_deduped'));
  await tx.execute(`DROP TABLE _ir_deduped`);
  const kept = await count(run, `SELECT count(*) FROM ${WORK.records}`);
  return { records: kept, duplicates: total - kept };
}
