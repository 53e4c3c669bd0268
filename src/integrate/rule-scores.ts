import { candidateSources, entityColumn } from './entity-columns.js';
import type { IntegrationFieldPlan, IntegrationSourcePlan, RulePlan } from './integration-plan.js';
import type { IntegrationRun } from './integration-run.js';

/**
 * Survivorship rules as SQL over one entity row: each rule gives every candidate (a source that maps the field) a
 * score where greater is better — rules that prefer less are negated — and NULL ranks last. Scores are cast to one
 * type per rule, so the candidates' ranking records compare field by field.
 */
function scoreType(run: IntegrationRun, field: IntegrationFieldPlan, rule: RulePlan): string {
  if (rule.kind === 'most_recent') return 'TIMESTAMP';
  if (rule.kind === 'max') return field.type === 'text' ? 'VARCHAR' : run.d.sqlType(field.type);
  return 'DOUBLE';
}

function scoreExpr(run: IntegrationRun, field: IntegrationFieldPlan, rule: RulePlan, position: number, s: IntegrationSourcePlan): string {
  const { d, plan } = run;
  const c = (name: string): string => d.quoteIdent(name);
  const i = s.rank;
  const value = c(entityColumn.value(i, field.name));
  const others = candidateSources(plan, field);
  const typed = (expr: string): string => (field.type === 'text' ? expr : d.parse(expr, field.type));
  const at = (names: readonly string[]): string => (names.includes(s.name) ? String(-names.indexOf(s.name)) : 'NULL');
  if ('sources' in rule && rule.kind !== 'priority_list' && rule.sources && !rule.sources.includes(s.name)) return 'NULL';
  switch (rule.kind) {
    case 'source':
      return s.name === rule.source ? '1' : '0';
    case 'priority_list':
      return at(rule.sources);
    case 'priority':
      return String(-i);
    case 'first_non_null':
      return at(rule.sources ?? [...plan.sources].sort((a, b) => a.declared - b.declared).map((x) => x.name));
    case 'most_recent':
      return c(entityColumn.updated(i));
    case 'most_frequent':
      return `(${others.map((o) => `CASE WHEN ${c(entityColumn.norm(o.rank, field.name))} = ${c(entityColumn.norm(i, field.name))} THEN 1 ELSE 0 END`).join(' + ')})`;
    case 'longest':
      return `length(${value})`;
    case 'max':
      return typed(value);
    case 'min':
      // Least first: numbers negated, dates by their age, text by how many candidates sort before it.
      if (field.type === 'text') return `-(${others.map((o) => `CASE WHEN ${c(entityColumn.value(o.rank, field.name))} < ${value} THEN 1 ELSE 0 END`).join(' + ')})`;
      if (field.type === 'date' || field.type === 'timestamp') return d.ageDays(typed(value), run.now);
      return `-(${typed(value)})`;
    case 'most_trusted':
      return c(entityColumn.trust(i));
    case 'custom':
      return `CASE WHEN ${c(entityColumn.pick(position, field.name))} = ${i} THEN 1 ELSE 0 END`;
  }
}

/** Score of rule `position` for candidate `s`, in the rule's type. */
export function score(run: IntegrationRun, field: IntegrationFieldPlan, position: number, s: IntegrationSourcePlan): string {
  const rule = field.rules[position] as RulePlan;
  return `CAST(${scoreExpr(run, field, rule, position, s)} AS ${scoreType(run, field, rule)})`;
}

/**
 * A candidate's ranking record over the first `upTo` rules — (score present, score) per rule — then, with
 * `tieBreak`, its priority and rank. NULL when the source has no value for the field, so `greatest` skips it.
 */
export function rankingRecord(run: IntegrationRun, field: IntegrationFieldPlan, s: IntegrationSourcePlan, upTo: number, tieBreak: boolean): string {
  const parts: [string, string][] = [];
  for (let k = 0; k < upTo; k++) {
    const sc = score(run, field, k, s);
    parts.push([`a${k}`, `${sc} IS NOT NULL`], [`b${k}`, sc]);
  }
  if (tieBreak) parts.push(['z', String(-s.rank)], ['i', String(s.rank)]);
  if (parts.length === 0) parts.push(['z', '0']);
  return `CASE WHEN ${run.d.quoteIdent(entityColumn.value(s.rank, field.name))} IS NOT NULL THEN ${run.d.record(parts)} END`;
}

/** Boolean SQL: did rule `position` speak for the winner (source rank `winner`)? A rule for another source decided nothing. */
export function speaksFor(run: IntegrationRun, field: IntegrationFieldPlan, position: number, winner: string): string {
  const rule = field.rules[position] as RulePlan;
  const ranks = (names: readonly string[]): string => {
    const list = run.plan.sources.filter((s) => names.includes(s.name)).map((s) => s.rank);
    return list.length ? `${winner} IN (${list.join(', ')})` : 'FALSE';
  };
  if (rule.kind === 'source') return ranks([rule.source]);
  if (rule.kind === 'priority_list') return ranks(rule.sources);
  if (rule.kind === 'custom') return `${winner} = ${run.d.quoteIdent(entityColumn.pick(position, field.name))}`;
  return rule.sources ? ranks(rule.sources) : 'TRUE';
}
