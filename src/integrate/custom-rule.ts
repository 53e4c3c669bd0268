import type { SurvivorCandidate } from '../config/types.js';
import { errorMessage, pipelineError } from '../errors.js';
import type { IntegrationFieldPlan, RulePlan } from './integration-plan.js';
import { runAll, type IntegrationRun } from './integration-run.js';
import { replaceTemp } from './match-rounds.js';
import { orderBy, scoreColumn } from './survivorship.js';

const CHUNK = 500;

/**
 * The slow path: a custom TypeScript rule. Only entities whose candidates are still tied on different values when the
 * rule's turn comes are read into JavaScript, one call per entity; the picks go back as a score column and ranking
 * continues in the engine. Everything else about survivorship stays set-based.
 */
export async function applyCustomRule(
  run: IntegrationRun,
  field: IntegrationFieldPlan,
  rule: Extract<RulePlan, { kind: 'custom' }>,
  scored: string,
  scores: readonly { best: 'ASC' | 'DESC' }[],
  position: number,
): Promise<void> {
  const { d, tx, plan } = run;
  const window = position > 0 ? `ORDER BY ${orderBy(scores, position)}` : '';
  const { rows } = await tx.query(`WITH tied AS (SELECT * FROM (SELECT *, rank() OVER (PARTITION BY master_id ${window}) AS _rank FROM ${scored}) t WHERE _rank = 1)
    SELECT master_id, source, src, value, raw, updated_at, trust FROM tied
    WHERE master_id IN (SELECT master_id FROM tied GROUP BY master_id HAVING count(DISTINCT norm) > 1)
    ORDER BY master_id, src`);
  const byEntity = new Map<string, SurvivorCandidate[]>();
  for (const r of rows) {
    const id = String(r.master_id);
    const list = byEntity.get(id) ?? [];
    list.push({ source: String(r.source), value: String(r.value), raw: r.raw === null ? null : String(r.raw), updatedAt: r.updated_at === null ? null : String(r.updated_at), priority: Number(r.src), trust: Number(r.trust) });
    byEntity.set(id, list);
  }
  const picks: string[] = [];
  for (const [id, candidates] of byEntity) {
    let choice: ReturnType<typeof rule.fn>;
    try {
      choice = rule.fn(Object.freeze(candidates.map((c) => Object.freeze({ ...c }))), { entity: plan.entity, id, field: field.name });
    } catch (error) {
      throw pipelineError({
        code: 'custom_rule_failed',
        step: `integrate.${plan.name}`,
        message: `The custom survivorship rule '${rule.name}' for ${field.name} threw on ${plan.entity} ${id}: ${errorMessage(error)}`,
        hint: `Fix the function in integrate.${plan.name}.fields.${field.name}.rules; it receives that entity's candidates (${candidates.map((c) => `${c.source}: ${c.value}`).join(', ')}).`,
      }, error);
    }
    if (choice === undefined || choice === null) continue;
    const source = typeof choice === 'string' ? choice : choice.source;
    if (!candidates.some((c) => c.source === source)) {
      throw pipelineError({
        code: 'custom_rule_invalid_choice',
        step: `integrate.${plan.name}`,
        value: source,
        message: `The custom survivorship rule '${rule.name}' for ${field.name} chose '${String(source)}' for ${plan.entity} ${id}, which is not one of its candidates.`,
        allowed: candidates.map((c) => c.source).join(', '),
        hint: 'Return one of the candidates it receives (or its source name), or undefined to leave the choice to the next rule.',
      });
    }
    picks.push(`(${d.literal(id)}, ${d.literal(source)})`);
  }
  await tx.execute(`CREATE TEMP TABLE _ir_pick (master_id VARCHAR, source VARCHAR)`);
  for (let i = 0; i < picks.length; i += CHUNK) await tx.execute(`INSERT INTO _ir_pick VALUES ${picks.slice(i, i + CHUNK).join(', ')}`);
  const kept = ['master_id', 'field', 'source', 'src', 'value', 'raw', 'norm', 'updated_at', 'trust', ...scores.map((_, i) => scoreColumn(i))]
    .map((c) => (c === scoreColumn(position) ? `CASE WHEN p.source = s.source THEN 1 ELSE 0 END AS ${c}` : `s.${c}`));
  await replaceTemp(run, scored, `SELECT ${kept.join(', ')} FROM ${scored} s LEFT JOIN _ir_pick p ON p.master_id = s.master_id`);
  await runAll(run, [`DROP TABLE _ir_pick`]);
}
