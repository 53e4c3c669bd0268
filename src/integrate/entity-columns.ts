import type { IntegrationFieldPlan, IntegrationPlan, IntegrationSourcePlan } from './integration-plan.js';

/**
 * Names of the columns of the entity table (`_ir_entities`): one row per entity, one group of columns per source.
 * An entity holds at most one record per source, so "the candidates of a field" are a handful of columns of one row
 * and survivorship is row-wise SQL — no grouping, no sorting. Source i is the source of priority rank i.
 */
export const entityColumn = {
  present: (i: number): string => `_p${i}`,
  /** The record's id in `_ir_records`. */
  record: (i: number): string => `_id${i}`,
  updated: (i: number): string => `_u${i}`,
  trust: (i: number): string => `_t${i}`,
  value: (i: number, field: string): string => `_v${i}__${field}`,
  raw: (i: number, field: string): string => `_r${i}__${field}`,
  norm: (i: number, field: string): string => `_n${i}__${field}`,
  /** The source chosen by the custom rule at position k of the field's chain. */
  pick: (k: number, field: string): string => `_k${k}__${field}`,
};

/** Columns of the resolved table (`_ir_resolved`), per field. */
export const resolvedColumn = {
  winner: (field: string): string => `${field}__winner`,
  value: (field: string): string => `${field}__value`,
  source: (field: string): string => `${field}__source`,
  rule: (field: string): string => `${field}__rule`,
  confidence: (field: string): string => `${field}__confidence`,
  compatible: (i: number, field: string): string => `_c${i}__${field}`,
};

/** The sources that map a field: its candidates, in priority order. */
export function candidateSources(plan: IntegrationPlan, field: IntegrationFieldPlan): IntegrationSourcePlan[] {
  return plan.sources.filter((s) => s.fields.some((f) => f.field === field.name));
}
