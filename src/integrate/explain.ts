import type { Plan } from '../config/plan.js';
import { closest } from '../config/config-issues.js';
import { usageError } from '../errors.js';
import type { Row, Warehouse } from '../warehouse/warehouse.js';
import { ruleId, type IntegrationPlan, type RulePlan } from './integration-plan.js';

export interface CandidateExplanation {
  readonly source: string;
  readonly label: string;
  readonly value: string;
  /** What the source held, when mapping changed it. */
  readonly raw: string | null;
  readonly updatedAt: string | null;
  readonly compatible: boolean;
  readonly chosen: boolean;
}

export interface FieldExplanation {
  readonly field: string;
  readonly value: string | null;
  readonly source: string | null;
  readonly rule: string;
  readonly confidence: number | null;
  readonly contested: boolean;
  readonly candidates: readonly CandidateExplanation[];
  /** The decision in words, to be read aloud. */
  readonly sentence: string;
}

export interface EntityExplanation {
  readonly entity: string;
  readonly integration: string;
  readonly id: string;
  readonly records: readonly { readonly source: string; readonly label: string; readonly key: string; readonly matchedBy: string | null; readonly matchWeight: number | null; readonly active: boolean }[];
  readonly quality: number | null;
  readonly contested: number;
  readonly fields: readonly FieldExplanation[];
  readonly sentence: string;
}

/** '2024-01-15 00:00:00' → '2024-01-15'; a time of day is kept to the minute. */
function when(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const text = String(value).replace('T', ' ');
  return text.endsWith(' 00:00:00') || /^\d{4}-\d{2}-\d{2}$/.test(text) ? text.slice(0, 10) : text.slice(0, 16);
}

function findIntegration(plan: Plan, entity: string): IntegrationPlan {
  const found = plan.integrations.find((i) => i.entity === entity || i.name === entity);
  if (found) return found;
  const known = plan.integrations.map((i) => i.entity);
  throw usageError({
    code: 'unknown_entity',
    value: entity,
    message: known.length === 0 ? `This project integrates no entities, so there is nothing to explain.` : `There is no entity '${entity}'.`,
    allowed: known.join(', ') || '(declare one under integrate in refinery.config.ts)',
    hint: closest(entity, known) ? `Did you mean '${closest(entity, known)}'?` : 'Name an entity declared under integrate (its `entity`), e.g. refinery explain customer 1001.',
  });
}

/** The master id for `id`: a master id itself, or a source record ('crm:1001', or a key only one entity holds). */
async function resolveId(warehouse: Warehouse, integration: IntegrationPlan, id: string): Promise<string> {
  const d = warehouse.dialect;
  const key = d.quoteIdent(integration.key);
  const master = d.table('gold', integration.tables.master);
  const xref = d.table('gold', integration.tables.xref);
  if ((await warehouse.query(`SELECT 1 FROM ${master} WHERE ${key} = $1`, [id])).rows.length > 0) return id;
  const at = id.indexOf(':');
  const bySource = at > 0 ? await warehouse.query(`SELECT DISTINCT ${key} AS id FROM ${xref} WHERE source = $1 AND source_key = $2`, [id.slice(0, at), id.slice(at + 1)]) : undefined;
  const rows = bySource?.rows.length ? bySource.rows : (await warehouse.query(`SELECT DISTINCT ${key} AS id FROM ${xref} WHERE source_key = $1`, [id])).rows;
  if (rows.length === 1) return String(rows[0]?.id);
  const { rows: sample } = await warehouse.query(`SELECT ${key} AS id FROM ${master} ORDER BY ${key} LIMIT 5`);
  throw usageError({
    code: rows.length > 1 ? 'ambiguous_id' : 'unknown_id',
    value: id,
    message: rows.length > 1 ? `'${id}' is a key in several sources, belonging to ${rows.map((r) => String(r.id)).join(', ')}.` : `There is no ${integration.entity} '${id}'.`,
    allowed: rows.length > 1 ? rows.map((r) => String(r.id)).join(', ') : `master ids such as ${sample.map((r) => String(r.id)).join(', ')}, or a source record as <source>:<key>`,
    hint: rows.length > 1 ? `Name the record as <source>:${id}, e.g. ${integration.sources[0]?.name}:${id}.` : `List them with \`refinery show gold.${integration.tables.master}\`.`,
  });
}

function label(integration: IntegrationPlan, source: string | null): string {
  return integration.sources.find((s) => s.name === source)?.label ?? String(source);
}

function findRule(integration: IntegrationPlan, field: string, id: string): RulePlan | undefined {
  return integration.fields.find((f) => f.name === field)?.rules.find((r) => ruleId(r) === id);
}

function reason(integration: IntegrationPlan, f: Omit<FieldExplanation, 'sentence'>, winner: CandidateExplanation, tied: boolean): string {
  const w = winner.label;
  const n = f.candidates.length;
  const rule = findRule(integration, f.field, f.rule);
  const order = integration.sources.map((s) => s.label).join(', ');
  if (n === 1) return rule?.kind === 'custom' ? `the custom rule ${rule.name} chose ${w}'s value, the only one` : `${w}'s value, the only one`;
  switch (rule?.kind ?? f.rule) {
    case 'source':
      return tied ? `${w}'s value is taken` : `${w}'s value, which the rules take first`;
    case 'priority_list':
      return `${w} comes first in the order ${rule?.kind === 'priority_list' ? rule.sources.map((s) => label(integration, s)).join(', ') : order}`;
    case 'priority':
      return `${w} comes first in source priority (${order})`;
    case 'first_non_null':
      return `${w} is the first source with a value`;
    case 'most_recent':
      return `${w}'s value (${winner.updatedAt ?? 'no date'}) is the most recent of ${n}`;
    case 'most_frequent':
      return `${f.value} is the most frequent value (${f.candidates.filter((c) => c.value === winner.value).length} of ${n})`;
    case 'longest':
      return `${w}'s value is the longest of ${n}`;
    case 'max':
      return `${w}'s value is the highest of ${n}`;
    case 'min':
      return `${w}'s value is the lowest of ${n}`;
    case 'most_trusted':
      return `${w} is the most trusted of ${n} sources`;
    case 'custom':
      return `the custom rule ${rule && 'name' in rule ? rule.name : f.rule} chose ${w}'s value`;
    case 'tie_break':
      return `the ${n} candidates tie on every rule, and ${w} comes first in source priority (${order})`;
    default:
      return `${w}'s value (rule ${f.rule})`;
  }
}

/** How an earlier rule left candidates tied: "CRM and billing tie as most recent (2024-01-14)". */
function tieWords(integration: IntegrationPlan, rule: RulePlan, candidates: readonly CandidateExplanation[], winner: CandidateExplanation): string {
  const names = (list: readonly CandidateExplanation[]): string => (list.length === 2 ? `${list[0]?.label} and ${list[1]?.label}` : `${list.length} sources`);
  if (rule.kind === 'most_recent') {
    const same = candidates.filter((c) => c.updatedAt === winner.updatedAt);
    return `${names(same)} tie as most recent (${winner.updatedAt ?? 'no date'})`;
  }
  if (rule.kind === 'longest') return `${names(candidates.filter((c) => c.value.length === winner.value.length))} tie as longest`;
  return `the candidates tie on ${ruleId(rule).replaceAll('_', ' ')}`;
}

/** "status = suspended: billing's value (2024-01-20) is the most recent of 2; CRM said active (2024-01-15). Confidence 0.50 — contested." */
export function fieldSentence(integration: IntegrationPlan, f: Omit<FieldExplanation, 'sentence'>): string {
  if (f.rule === 'no_value') return `${f.field} has no value: no source supplies one.`;
  if (f.rule === 'default') return `${f.field} = ${f.value}: no source supplies one, so the default applies.`;
  const winner = f.candidates.find((c) => c.chosen);
  if (!winner) return `${f.field} = ${f.value} (rule ${f.rule}).`;
  const rules = integration.fields.find((x) => x.name === f.field)?.rules ?? [];
  const decidedAt = rules.findIndex((r) => ruleId(r) === f.rule);
  // Earlier "take this source's value" rules that found nothing explain why a later rule decided.
  const missing = rules
    .slice(0, decidedAt < 0 ? rules.length : decidedAt)
    .flatMap((r) => (r.kind === 'source' && !f.candidates.some((c) => c.source === r.source) ? [`${label(integration, r.source)} has none`] : []));
  const ties = rules
    .slice(0, decidedAt < 0 ? rules.length : decidedAt)
    .flatMap((r) => (r.kind === 'source' ? [] : [tieWords(integration, r, f.candidates, winner)]));
  const dated = f.rule.startsWith('most_recent') || rules.slice(0, decidedAt < 0 ? rules.length : decidedAt).some((r) => r.kind === 'most_recent');
  const others = f.candidates
    .filter((c) => !c.chosen)
    .map((c) => `${c.label} said ${c.value}${c.raw !== null ? ` (as ${c.raw})` : ''}${dated ? ` (${c.updatedAt ?? 'no date'})` : ''}`);
  const shownValue = winner.raw !== null ? `${f.value} (${winner.label} wrote ${winner.raw})` : f.value;
  const before = [...missing, ...ties];
  let text = `${f.field} = ${shownValue}: ${before.length ? `${before.join(', ')}, so ` : ''}${reason(integration, f, winner, ties.length > 0)}`;
  if (others.length) text += `; ${others.join(', ')}`;
  if (!text.endsWith('.')) text += '.';
  if (f.confidence === null) return text;
  const agree = f.contested ? ' — contested' : f.candidates.length === 2 ? ' — both agree' : f.candidates.length > 2 ? ` — all ${f.candidates.length} agree` : '';
  // Rounded down, so a contested field never reads as 1.00.
  return `${text} Confidence ${(Math.floor(f.confidence * 100 + 1e-9) / 100).toFixed(2)}${agree}.`;
}

function candidatesOf(integration: IntegrationPlan, value: unknown): CandidateExplanation[] {
  if (!Array.isArray(value)) return [];
  return value.map((c: Row) => ({
    source: String(c.source),
    label: label(integration, String(c.source)),
    value: String(c.value),
    raw: c.raw === null || c.raw === undefined ? null : String(c.raw),
    updatedAt: when(c.updated_at),
    compatible: Boolean(c.compatible),
    chosen: Boolean(c.chosen),
  }));
}

/** Why each field of one golden record holds its value, read from the provenance and cross-reference tables. */
export async function explainEntity(warehouse: Warehouse, plan: Plan, entity: string, id: string): Promise<EntityExplanation> {
  const integration = findIntegration(plan, entity);
  const d = warehouse.dialect;
  if (!(await warehouse.introspector.tableExists('gold', integration.tables.provenance))) {
    throw usageError({ code: 'not_built', message: `gold.${integration.tables.provenance} does not exist yet.`, hint: 'Run `refinery run` first.' });
  }
  const masterId = await resolveId(warehouse, integration, id);
  const key = d.quoteIdent(integration.key);
  const { rows } = await warehouse.query(`SELECT field, value, source, rule, confidence, contested, candidates FROM ${d.table('gold', integration.tables.provenance)} WHERE ${key} = $1`, [masterId]);
  if (rows.length === 0) {
    const { rows: gone } = await warehouse.query(`SELECT source, source_key FROM ${d.table('gold', integration.tables.xref)} WHERE ${key} = $1 ORDER BY source`, [masterId]);
    throw usageError({
      code: 'entity_gone',
      value: id,
      message: `${integration.entity} ${masterId} has no current source record: ${gone.map((g) => `${String(g.source)} ${String(g.source_key)}`).join(', ') || 'its records'} left the sources, so it has no golden record any more.`,
      hint: `The cross-reference keeps its id (gold.${integration.tables.xref}, active = false): a returning record gets it back.`,
    });
  }
  const order = new Map(integration.fields.map((f, i) => [f.name, i]));
  const fields = rows
    .map((r) => {
      const base = {
        field: String(r.field),
        value: r.value === null ? null : String(r.value),
        source: r.source === null ? null : String(r.source),
        rule: String(r.rule),
        confidence: r.confidence === null ? null : Number(r.confidence),
        contested: Boolean(r.contested),
        candidates: candidatesOf(integration, r.candidates),
      };
      return { ...base, sentence: fieldSentence(integration, base) };
    })
    .sort((a, b) => (order.get(a.field) ?? 0) - (order.get(b.field) ?? 0));
  const { rows: xrefRows } = await warehouse.query(
    `SELECT source, source_key, matched_by, match_weight, active FROM ${d.table('gold', integration.tables.xref)} WHERE ${key} = $1 ORDER BY source_key, source`,
    [masterId],
  );
  const rank = new Map(integration.sources.map((s) => [s.name, s.rank]));
  const records = xrefRows
    .map((r) => ({ source: String(r.source), label: label(integration, String(r.source)), key: String(r.source_key), matchedBy: r.matched_by === null ? null : String(r.matched_by), matchWeight: r.match_weight === null ? null : Number(r.match_weight), active: Boolean(r.active) }))
    .sort((a, b) => (rank.get(a.source) ?? 0) - (rank.get(b.source) ?? 0));
  const { rows: master } = await warehouse.query(`SELECT _quality, _contested FROM ${d.table('gold', integration.tables.master)} WHERE ${key} = $1`, [masterId]);
  const quality = master[0]?._quality === undefined || master[0]?._quality === null ? null : Number(master[0]._quality);
  const contested = Number(master[0]?._contested ?? 0);
  const from = records.filter((r) => r.active).map((r) => `${r.label} ${r.key} (${r.matchedBy === 'new' ? 'first seen' : `matched by ${r.matchedBy}${r.matchWeight === null ? '' : `, weight ${r.matchWeight.toFixed(1)}`}`})`);
  const sentence = `${integration.entity} ${masterId}: from ${from.join(', ') || 'no current source record'}. Quality ${quality === null ? 'n/a' : quality.toFixed(2)}${contested ? `, ${contested} contested field${contested === 1 ? '' : 's'}` : ''}.`;
  return { entity: integration.entity, integration: integration.name, id: masterId, records, quality, contested, fields, sentence };
}
