import type { SurvivorCandidate } from '../config/types.js';
import { errorMessage, pipelineError } from '../errors.js';
import { candidateSources, entityColumn as e } from './entity-columns.js';
import type { IntegrationFieldPlan, RulePlan } from './integration-plan.js';
import { runAll, type IntegrationRun } from './integration-run.js';
import { replaceTemp } from './match-rounds.js';
import { keepsRaw } from './mapping.js';
import { rankingRecord } from './rule-scores.js';

const CHUNK = 500;
const ENTITIES = '_ir_entities';

/**
 * The slow path: a custom TypeScript rule. Only entities whose candidates are still tied on different values when the
 * rule's turn comes are read into JavaScript, one call per entity; the picks go back into the entity table as a column
 * and ranking continues in the engine. Everything else about survivorship stays set-based.
 */
export async function applyCustomRule(run: IntegrationRun, field: IntegrationFieldPlan, position: number): Promise<void> {
  const { d, tx, plan } = run;
  const rule = field.rules[position] as Extract<RulePlan, { kind: 'custom' }>;
  const q = (n: string): string => d.quoteIdent(n);
  const sources = candidateSources(plan, field);
  const best = `greatest(${sources.map((s) => rankingRecord(run, field, s, position, false)).join(', ')})`;
  const tied = (rank: number): string => `(${q(e.value(rank, field.name))} IS NOT NULL AND ${rankingRecord(run, field, sources.find((s) => s.rank === rank) as (typeof sources)[number], position, false)} IS NOT DISTINCT FROM _best)`;
  const pairs = sources.flatMap((a, i) => sources.slice(i + 1).map((b) => `(_tied${a.rank} AND _tied${b.rank} AND ${q(e.norm(a.rank, field.name))} IS DISTINCT FROM ${q(e.norm(b.rank, field.name))})`));
  const picks: string[] = [];
  if (pairs.length > 0) {
    const withRaw = keepsRaw(plan, field);
    const columns = sources.flatMap((s) => [`_tied${s.rank}`, q(e.value(s.rank, field.name)), ...(withRaw ? [q(e.raw(s.rank, field.name))] : []), q(e.updated(s.rank)), q(e.trust(s.rank))]);
    const { rows } = await tx.query(`SELECT master_id, ${columns.join(', ')} FROM (
        SELECT *, ${sources.map((s) => `${tied(s.rank)} AS _tied${s.rank}`).join(', ')} FROM (SELECT *, ${best} AS _best FROM ${ENTITIES}) b
      ) t WHERE ${pairs.join(' OR ')} ORDER BY master_id`);
    for (const row of rows) {
      const id = String(row.master_id);
      const candidates: SurvivorCandidate[] = sources
        .filter((s) => row[`_tied${s.rank}`] === true)
        .map((s) => {
          const updated = row[e.updated(s.rank)];
          const value = String(row[e.value(s.rank, field.name)]);
          const raw = withRaw ? row[e.raw(s.rank, field.name)] : null;
          return { source: s.name, value, raw: raw === null || raw === undefined || String(raw) === value ? null : String(raw), updatedAt: updated === null ? null : String(updated), priority: s.rank, trust: Number(row[e.trust(s.rank)]) };
        });
      let choice: ReturnType<typeof rule.fn>;
      try {
        choice = rule.fn(Object.freeze(candidates.map((c) => Object.freeze({ ...c }))), { entity: plan.entity, id, field: field.name });
      } catch (error) {
        throw pipelineError({
          code: 'custom_rule_failed',
          step: `integrate.${plan.name}`,
          message: `The custom survivorship rule '${rule.name}' for ${field.name} threw on ${plan.entity} ${id}: ${errorMessage(error)}`,
          hint: `Fix the function in integrate.${plan.name}.fields.${field.name}.rules; it received ${candidates.map((c) => `${c.source}: ${c.value}`).join(', ')}.`,
        }, error);
      }
      if (choice === undefined || choice === null) continue;
      const source = typeof choice === 'string' ? choice : choice.source;
      const chosen = sources.find((s) => s.name === source);
      if (!chosen || !candidates.some((c) => c.source === source)) {
        throw pipelineError({
          code: 'custom_rule_invalid_choice',
          step: `integrate.${plan.name}`,
          value: source,
          message: `The custom survivorship rule '${rule.name}' for ${field.name} chose '${String(source)}' for ${plan.entity} ${id}, which is not one of its candidates.`,
          allowed: candidates.map((c) => c.source).join(', '),
          hint: 'Return one of the candidates it receives (or its source name), or undefined to leave the choice to the next rule.',
        });
      }
      picks.push(`(${d.literal(id)}, ${chosen.rank})`);
    }
  }
  await tx.execute(`CREATE TEMP TABLE _ir_pick (master_id VARCHAR, pick INTEGER)`);
  for (let i = 0; i < picks.length; i += CHUNK) await tx.execute(`INSERT INTO _ir_pick VALUES ${picks.slice(i, i + CHUNK).join(', ')}`);
  await replaceTemp(run, ENTITIES, `SELECT x.*, p.pick AS ${q(e.pick(position, field.name))} FROM ${ENTITIES} x LEFT JOIN _ir_pick p ON p.master_id = x.master_id`);
  await runAll(run, [`DROP TABLE _ir_pick`]);
}
