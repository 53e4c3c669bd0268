import type { CleanRule, CustomSurvivor, FieldKind, SurvivorshipRuleName, ValidityRule } from '../config/types.js';
import type { LogicalType } from '../warehouse/warehouse.js';

/**
 * One `integrate` entry, resolved: sources in priority order, every field with its rule chain, matching rules with
 * their weights filled in, and the fingerprints that decide what a change of configuration re-does.
 */
export interface IntegrationPlan {
  readonly name: string;
  readonly entity: string;
  /** Master id column of the gold tables. */
  readonly key: string;
  /** Unqualified gold table names. */
  readonly tables: { readonly master: string; readonly provenance: string; readonly xref: string; readonly sourceQuality: string };
  /** In tie-break order: by `priority`, then declaration order. */
  readonly sources: readonly IntegrationSourcePlan[];
  readonly fields: readonly IntegrationFieldPlan[];
  readonly match: MatchPlan;
  readonly confidence: 'equal' | 'trust_weighted';
  /** Tables read (`silver.crm`, ...): the step's dependencies. */
  readonly reads: readonly string[];
  readonly fingerprints: {
    /** Columns of the golden tables: a change rebuilds them (the xref is kept). */
    readonly shape: string;
    /** Rule chains, defaults, confidence and validity: a change re-resolves every entity. */
    readonly survivorship: string;
    /** Matching rules and overrides: they apply to records as they arrive (and to overridden pairs). */
    readonly matching: string;
    /** Mapping and value maps: a change shows up as changed records, re-resolving their entities. */
    readonly mapping: string;
  };
}

export interface IntegrationSourcePlan {
  readonly name: string;
  readonly label: string;
  readonly schema: string;
  readonly table: string;
  readonly key: string;
  readonly updatedAt?: string;
  /** Position in tie-break (priority) order, 0 first. */
  readonly rank: number;
  /** Position in the project file. */
  readonly declared: number;
  readonly fields: readonly SourceFieldPlan[];
  readonly trust: number;
  /** Trust halves every this many days of a record's age; undefined = no decay. */
  readonly trustHalfLifeDays?: number;
}

export interface SourceFieldPlan {
  readonly field: string;
  /** Column of the source table, or an SQL expression over its columns. */
  readonly column?: string;
  readonly sql?: string;
  /** Value map, source value → canonical value. */
  readonly values: readonly (readonly [string, string])[];
}

export type RulePlan =
  | { readonly kind: SurvivorshipRuleName; readonly sources?: readonly string[] }
  | { readonly kind: 'source'; readonly source: string }
  | { readonly kind: 'priority_list'; readonly sources: readonly string[] }
  | { readonly kind: 'custom'; readonly name: string; readonly fn: CustomSurvivor };

export interface IntegrationFieldPlan {
  readonly name: string;
  readonly kind: FieldKind;
  readonly type: LogicalType;
  readonly clean: readonly CleanRule[];
  readonly rules: readonly RulePlan[];
  readonly default?: string | number | boolean;
  readonly valid?: ValidityRule;
}

export interface ComparisonLevelPlan {
  readonly test: { readonly exact: true } | { readonly initials: true } | { readonly jaroWinkler: number } | { readonly levenshtein: number };
  readonly weight: number;
}

export interface FuzzyPlan {
  /** Each rule: keys (SQL over the normalised fields `n.<field>`) that must all be equal. */
  readonly blocking: readonly (readonly BlockingKeyPlan[])[];
  readonly compare: readonly { readonly field: string; readonly levels: readonly ComparisonLevelPlan[]; readonly otherwise: number }[];
  readonly threshold: number;
}

export type BlockingKeyPlan = { readonly field: string; readonly transform: BlockingTransform } | { readonly sql: string };
export type BlockingTransform = 'exact' | 'last_word' | 'first_word' | 'initial' | 'prefix3';
export const BLOCKING_TRANSFORMS: readonly BlockingTransform[] = ['exact', 'last_word', 'first_word', 'initial', 'prefix3'];

export interface RecordRef {
  readonly source: string;
  readonly key: string;
}

export interface MatchPlan {
  /** The same source key links records (applied first, as records sharing an id are one entity). */
  readonly byKey: boolean;
  /** Field sets whose normalised values must all be equal, in order. */
  readonly deterministic: readonly (readonly string[])[];
  readonly fuzzy?: FuzzyPlan;
  readonly mustLink: readonly (readonly [RecordRef, RecordRef])[];
  readonly cannotLink: readonly (readonly [RecordRef, RecordRef])[];
}

/** The golden tables' qualified names, for dependency resolution and messages. */
export function outputTables(plan: Pick<IntegrationPlan, 'tables'>): string[] {
  return [plan.tables.master, plan.tables.provenance, plan.tables.xref, plan.tables.sourceQuality].map((t) => `gold.${t}`);
}

/** How a rule is named in provenance (`rule` column) and explanations. */
export function ruleId(rule: RulePlan): string {
  switch (rule.kind) {
    case 'source':
      return `source:${rule.source}`;
    case 'priority_list':
      return `priority:${rule.sources.join('>')}`;
    case 'custom':
      return `custom:${rule.name}`;
    default:
      return rule.sources ? `${rule.kind}:${rule.sources.join('+')}` : rule.kind;
  }
}
