import { normalise } from './compatibility.js';
import { applyCustomRule } from './custom-rule.js';
import { ruleId, type IntegrationFieldPlan, type RulePlan } from './integration-plan.js';
import { rawColumn, WORK, type IntegrationRun } from './integration-run.js';
import { keepsRaw } from './mapping.js';

/** A rule as SQL: a score per candidate and which end is best. NULL scores always rank last. */
interface Score {
  readonly expr: string;
  readonly best: 'DESC' | 'ASC';
}

/**
 * One row per (entity, field, source) that supplies a value, for the entities being resolved: the canonical value,
 * what the source held, the normalised form used to compare values, the business timestamp, and the source's trust
 * after decay (trust × ½^(age / half-life), age measured from the run clock; no decay when the timestamp is unknown).
 */
export async function collectCandidates(run: IntegrationRun): Promise<void> {
  const { d, plan } = run;
  const q = (n: string): string => d.quoteIdent(n);
  const trust = `CASE r._source ${plan.sources
    .map((s) => `WHEN ${d.literal(s.name)} THEN ${s.trustHalfLifeDays ? `${s.trust} * coalesce(power(0.5, greatest(${d.ageDays('r._updated_at', run.now)}, 0) / ${s.trustHalfLifeDays}), 1)` : s.trust}`)
    .join(' ')} END`;
  const perField = plan.fields.map(
    (f) => `SELECT m.master_id, ${d.literal(f.name)} AS field, r._source AS source, r._src AS src, r.${q(f.name)} AS value,
      ${keepsRaw(plan, f) ? `CASE WHEN r.${q(rawColumn(f.name))} IS DISTINCT FROM r.${q(f.name)} THEN r.${q(rawColumn(f.name))} END` : 'CAST(NULL AS VARCHAR)'} AS raw,
      ${normalise(d, f.kind, `r.${q(f.name)}`)} AS norm, r._updated_at AS updated_at, ${trust} AS trust
      FROM ${WORK.records} r JOIN ${WORK.members} m ON m._rec = r._rec JOIN ${WORK.affected} a ON a.master_id = m.master_id
      WHERE r.${q(f.name)} IS NOT NULL`,
  );
  await run.tx.execute(`CREATE TEMP TABLE ${WORK.candidates} AS ${perField.join('\nUNION ALL\n')}`);
}

function restricted(run: IntegrationRun, sources: readonly string[] | undefined, expr: string): string {
  return sources ? `CASE WHEN source IN (${sources.map((s) => run.d.literal(s)).join(', ')}) THEN ${expr} END` : expr;
}

function score(run: IntegrationRun, field: IntegrationFieldPlan, rule: RulePlan): Score {
  const { d, plan } = run;
  const position = (names: readonly string[]): string => `CASE source ${names.map((n, i) => `WHEN ${d.literal(n)} THEN ${i}`).join(' ')} END`;
  const typed = field.type === 'text' ? 'value' : d.parse('value', field.type);
  switch (rule.kind) {
    case 'source':
      return { expr: `CASE WHEN source = ${d.literal(rule.source)} THEN 1 ELSE 0 END`, best: 'DESC' };
    case 'priority_list':
      return { expr: position(rule.sources), best: 'ASC' };
    case 'priority':
      return { expr: restricted(run, rule.sources, 'src'), best: 'ASC' };
    case 'first_non_null':
      return { expr: position(rule.sources ?? [...plan.sources].sort((a, b) => a.declared - b.declared).map((s) => s.name)), best: 'ASC' };
    case 'most_recent':
      return { expr: restricted(run, rule.sources, 'updated_at'), best: 'DESC' };
    case 'most_frequent':
      return { expr: restricted(run, rule.sources, `count(*) OVER (PARTITION BY master_id, norm)`), best: 'DESC' };
    case 'longest':
      return { expr: restricted(run, rule.sources, 'length(value)'), best: 'DESC' };
    case 'max':
      return { expr: restricted(run, rule.sources, typed), best: 'DESC' };
    case 'min':
      return { expr: restricted(run, rule.sources, typed), best: 'ASC' };
    case 'most_trusted':
      return { expr: restricted(run, rule.sources, 'trust'), best: 'DESC' };
    case 'custom':
      // Filled in by the custom rule's slow path (custom-rule.ts) before ranking.
      return { expr: 'CAST(NULL AS INTEGER)', best: 'DESC' };
  }
}

export const scoreColumn = (i: number): string => `_s${i}`;

/** Boolean SQL: did the rule speak for this candidate? A rule for another source's value did not decide anything. */
function applies(run: IntegrationRun, rule: RulePlan, position: number): string {
  const list = (names: readonly string[]): string => `source IN (${names.map((n) => run.d.literal(n)).join(', ')})`;
  if (rule.kind === 'source') return `source = ${run.d.literal(rule.source)}`;
  if (rule.kind === 'priority_list') return list(rule.sources);
  if (rule.kind === 'custom') return `${scoreColumn(position)} = 1`;
  return rule.sources ? list(rule.sources) : 'TRUE';
}

export function orderBy(scores: readonly Pick<Score, 'best'>[], upTo = scores.length): string {
  return scores
    .slice(0, upTo)
    .map((s, i) => `${scoreColumn(i)} ${s.best} NULLS LAST`)
    .join(', ');
}

/**
 * Survivorship, per field, set-based: every rule becomes a score column; candidates are ranked by the scores in rule
 * order, then by source priority (the final, deterministic tie-break). The rule that decided is the first that speaks
 * for the winner and after which the candidates still tied with it all hold the same (normalised) value;
 * `only_candidate` when no rule speaks for a lone candidate, `tie_break` when the rules leave different values tied.
 */
export async function resolveWinners(run: IntegrationRun): Promise<void> {
  const { d, tx } = run;
  await tx.execute(`CREATE TEMP TABLE ${WORK.winners} (master_id VARCHAR, field VARCHAR, value VARCHAR, norm VARCHAR, source VARCHAR, src INTEGER, updated_at TIMESTAMP, rule VARCHAR)`);
  for (const field of run.plan.fields) {
    const scores = field.rules.map((rule) => score(run, field, rule));
    const scored = `_ir_scored`;
    await tx.execute(`CREATE TEMP TABLE ${scored} AS SELECT master_id, field, source, src, value, raw, norm, updated_at, trust,
      ${scores.map((s, i) => `${s.expr} AS ${scoreColumn(i)}`).join(', ')} FROM ${WORK.candidates} WHERE field = ${d.literal(field.name)}`);
    for (const [i, rule] of field.rules.entries()) {
      if (rule.kind === 'custom') await applyCustomRule(run, field, rule, scored, scores, i);
    }
    const prefix = (k: number): string => ['master_id', ...scores.slice(0, k + 1).map((_, i) => scoreColumn(i))].join(', ');
    const unanimous = scores.map((_, k) => `min(norm) OVER (PARTITION BY ${prefix(k)}) = max(norm) OVER (PARTITION BY ${prefix(k)}) AS _u${k}`);
    const decided = field.rules.map((rule, k) => `WHEN _u${k} AND ${applies(run, rule, k)} THEN ${d.literal(ruleId(rule))}`).join(' ');
    await tx.execute(`INSERT INTO ${WORK.winners}
      SELECT master_id, field, value, norm, source, src, updated_at, CASE ${decided} WHEN _n = 1 THEN 'only_candidate' ELSE 'tie_break' END
      FROM (SELECT *, row_number() OVER (PARTITION BY master_id ORDER BY ${orderBy(scores)}, src) AS _rn, count(*) OVER (PARTITION BY master_id) AS _n, ${unanimous.join(', ')} FROM ${scored}) ranked
      WHERE _rn = 1`);
    await tx.execute(`DROP TABLE ${scored}`);
  }
}
