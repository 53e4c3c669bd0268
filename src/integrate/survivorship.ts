import { compatible, normalise } from './compatibility.js';
import { applyCustomRule } from './custom-rule.js';
import { candidateSources, entityColumn as e, resolvedColumn as r } from './entity-columns.js';
import { ruleId, type IntegrationFieldPlan } from './integration-plan.js';
import { rawColumn, WORK, type IntegrationRun } from './integration-run.js';
import { keepsRaw } from './mapping.js';
import { rankingRecord, score, speaksFor } from './rule-scores.js';

export const ENTITIES = '_ir_entities';
export const RESOLVED = '_ir_resolved';

/**
 * One row per entity being resolved: its records' canonical values pivoted by source (value, the source's own text,
 * normalised form), each source's business timestamp, and its trust after decay — trust × ½^(age / half-life), age
 * from the business timestamp to the run clock's time, no decay when the timestamp is unknown.
 */
export async function collectEntities(run: IntegrationRun, all: boolean): Promise<void> {
  const { d, plan } = run;
  const q = (n: string): string => d.quoteIdent(n);
  const pivot: string[] = [];
  const derived: string[] = [];
  for (const s of plan.sources) {
    const i = s.rank;
    const of = (expr: string): string => `max(${expr}) FILTER (WHERE r._src = ${i})`;
    pivot.push(`bool_or(r._src = ${i}) AS ${q(e.present(i))}`, `${of('r._rec')} AS ${q(e.record(i))}`, `${of('r._updated_at')} AS ${q(e.updated(i))}`);
    const decay = s.trustHalfLifeDays ? ` * coalesce(power(0.5, greatest(${d.ageDays(q(e.updated(i)), run.now)}, 0) / ${s.trustHalfLifeDays}), 1)` : '';
    derived.push(`CAST(${s.trust}${decay} AS DOUBLE) AS ${q(e.trust(i))}`);
    for (const f of plan.fields.filter((x) => s.fields.some((m) => m.field === x.name))) {
      pivot.push(`${of(`r.${q(f.name)}`)} AS ${q(e.value(i, f.name))}`);
      if (keepsRaw(plan, f)) pivot.push(`${of(`r.${q(rawColumn(f.name))}`)} AS ${q(e.raw(i, f.name))}`);
      derived.push(`${normalise(d, f.kind, q(e.value(i, f.name)))} AS ${q(e.norm(i, f.name))}`);
    }
  }
  // A view, read once by resolveFields, unless a custom rule needs to read it first and add its picks.
  const materialise = plan.fields.some((f) => f.rules.some((rule) => rule.kind === 'custom'));
  await run.tx.execute(`CREATE TEMP ${materialise ? 'TABLE' : 'VIEW'} ${ENTITIES} AS SELECT *, ${derived.join(', ')} FROM (
    SELECT m.master_id, ${pivot.join(', ')}
    FROM ${WORK.records} r JOIN ${WORK.members} m ON m._rec = r._rec
    ${all ? '' : `WHERE m.master_id IN (SELECT master_id FROM ${WORK.affected})`}
    GROUP BY m.master_id) pivoted`);
}

/** Per field, the SQL of the four stages below (each stage reads the columns the one before it made). */
function fieldStages(run: IntegrationRun, field: IntegrationFieldPlan): { best: string[]; winner: string[]; judged: string[]; resolved: string[] } {
  const { d, plan } = run;
  const q = (n: string): string => d.quoteIdent(n);
  const f = field.name;
  const sources = candidateSources(plan, field);
  const best = q(`_w__${f}`);
  const w = q(r.winner(f));
  const wn = q(`_wn__${f}`);
  const v = (i: number): string => q(e.value(i, f));
  const n = (i: number): string => q(e.norm(i, f));
  const none = `CAST(NULL AS VARCHAR)`;
  if (sources.length === 0) {
    return {
      best: [],
      winner: [`CAST(NULL AS INTEGER) AS ${w}`, `${none} AS ${q(r.value(f))}`, `${none} AS ${q(r.source(f))}`],
      judged: [`${d.literal(field.default === undefined ? 'no_value' : 'default')} AS ${q(r.rule(f))}`],
      resolved: [`CAST(NULL AS DOUBLE) AS ${q(r.confidence(f))}`],
    };
  }
  const bestRecord = `greatest(${sources.map((s) => rankingRecord(run, field, s, field.rules.length, true)).join(', ')})`;
  const pickBy = (col: (i: number) => string): string => `CASE ${w} ${sources.map((s) => `WHEN ${s.rank} THEN ${col(s.rank)}`).join(' ')} END`;
  const compat = (i: number): string => q(r.compatible(i, f));
  // Among the candidates the first k+1 rules leave tied with the winner, does one value remain?
  const tied = (i: number, k: number): string => Array.from({ length: k + 1 }, (_, j) => `${score(run, field, j, sources.find((s) => s.rank === i) as (typeof sources)[number])} IS NOT DISTINCT FROM ${d.recordField(best, `b${j}`)}`).join(' AND ');
  const unanimous = (k: number): string => sources.map((s) => `(${v(s.rank)} IS NULL OR NOT (${tied(s.rank, k)}) OR ${n(s.rank)} IS NOT DISTINCT FROM ${wn})`).join(' AND ');
  const supplied = sources.map((s) => `CASE WHEN ${v(s.rank)} IS NOT NULL THEN 1 ELSE 0 END`).join(' + ');
  const vote = (i: number): string => (plan.confidence === 'trust_weighted' ? q(e.trust(i)) : '1.0');
  const decided = field.rules.map((rule, k) => `WHEN ${unanimous(k)} AND ${speaksFor(run, field, k, w)} THEN ${d.literal(ruleId(rule))}`).join(' ');
  return {
    best: [`${bestRecord} AS ${best}`],
    winner: [`${d.recordField(best, 'i')} AS ${w}`, `${pickBy(v)} AS ${q(r.value(f))}`, `${pickBy((i) => d.literal(plan.sources.find((s) => s.rank === i)?.name ?? ''))} AS ${q(r.source(f))}`, `${pickBy(n)} AS ${wn}`],
    judged: [
      ...sources.map((s) => `CASE WHEN ${v(s.rank)} IS NULL THEN NULL WHEN ${n(s.rank)} IS NOT DISTINCT FROM ${wn} THEN TRUE ELSE ${field.kind === 'name' ? compatible(d, 'name', n(s.rank), wn) : 'FALSE'} END AS ${compat(s.rank)}`),
      `CASE WHEN ${w} IS NULL THEN ${d.literal(field.default === undefined ? 'no_value' : 'default')} ${decided} WHEN ${supplied} = 1 THEN 'only_candidate' ELSE 'tie_break' END AS ${q(r.rule(f))}`,
    ],
    resolved: [
      `(${sources.map((s) => `CASE WHEN ${compat(s.rank)} THEN ${vote(s.rank)} ELSE 0 END`).join(' + ')}) / NULLIF(${sources.map((s) => `CASE WHEN ${v(s.rank)} IS NOT NULL THEN ${vote(s.rank)} ELSE 0 END`).join(' + ')}, 0) AS ${q(r.confidence(f))}`,
    ],
  };
}

/**
 * Survivorship, row-wise: per field the winner is the candidate with the greatest ranking record (rule scores in
 * order, then source priority — the final, deterministic tie-break). The rule that decided is the first that spoke for
 * the winner and left only one value among the candidates still tied with it; `only_candidate` when none spoke for a
 * lone candidate; `tie_break` when the rules left different values tied. Then each candidate is judged compatible with
 * the winner or not, and confidence is the share of votes for compatible values. Leaves `_ir_resolved`: the entity
 * row plus, per field, winner, value, source, rule, compatibility per candidate and confidence.
 */
export async function resolveFields(run: IntegrationRun): Promise<void> {
  const { plan } = run;
  for (const field of plan.fields) {
    for (const [k, rule] of field.rules.entries()) if (rule.kind === 'custom') await applyCustomRule(run, field, k);
  }
  const stages = plan.fields.map((field) => fieldStages(run, field));
  const layer = (select: string[], from: string): string => `SELECT *${select.length ? `, ${select.join(', ')}` : ''} FROM (${from}) x`;
  const best = layer(stages.flatMap((s) => s.best), `SELECT * FROM ${ENTITIES}`);
  const winner = layer(stages.flatMap((s) => s.winner), best);
  const judged = layer(stages.flatMap((s) => s.judged), winner);
  // What later stages read: per source its presence, record id and timestamp; per field the candidates' values (for
  // provenance's candidate lists) and the outcome. Norms, trust and ranking records stay behind.
  const q = (n: string): string => run.d.quoteIdent(n);
  const kept = [
    'master_id',
    ...plan.sources.flatMap((s) => [e.present(s.rank), e.record(s.rank), e.updated(s.rank)]),
    ...plan.fields.flatMap((f) => [
      ...candidateSources(plan, f).flatMap((s) => [e.value(s.rank, f.name), ...(keepsRaw(plan, f) ? [e.raw(s.rank, f.name)] : []), r.compatible(s.rank, f.name)]),
      r.winner(f.name), r.value(f.name), r.source(f.name), r.rule(f.name),
    ]),
  ].map((c) => (c === 'master_id' ? c : q(c)));
  await run.tx.execute(`CREATE TEMP TABLE ${RESOLVED} AS SELECT ${[...kept, ...stages.flatMap((s) => s.resolved)].join(', ')} FROM (${judged}) resolved`);
}
