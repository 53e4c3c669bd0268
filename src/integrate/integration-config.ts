import { createHash } from 'node:crypto';
import type { ErrorData } from '../errors.js';
import { closest, configIssue, type IssueContext, type KeyPath } from '../config/config-issues.js';
import type { FieldComparison, IntegrationConfig, ProjectConfig, SurvivorshipRule } from '../config/types.js';
import { parseDuration } from '../orchestrator/durations.js';
import {
  BLOCKING_TRANSFORMS,
  outputTables,
  type BlockingKeyPlan,
  type BlockingTransform,
  type ComparisonLevelPlan,
  type FuzzyPlan,
  type IntegrationFieldPlan,
  type IntegrationPlan,
  type IntegrationSourcePlan,
  type RecordRef,
  type RulePlan,
} from './integration-plan.js';

/** Comparison presets: weights in the spirit of match weights (agreement adds evidence, disagreement removes it). */
const PRESETS: Record<'name' | 'email' | 'exact', FieldComparison> = {
  name: { levels: [{ exact: true, weight: 5 }, { initials: true, weight: 3 }, { jaroWinkler: 0.92, weight: 3 }, { levenshtein: 2, weight: 1 }], else: -3 },
  email: { levels: [{ exact: true, weight: 6 }, { levenshtein: 1, weight: 4 }], else: -4 },
  exact: { levels: [{ exact: true, weight: 4 }], else: -2 },
};

function fingerprint(value: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'function' ? `fn:${String(v)}` : v)))
    .digest('hex')
    .slice(0, 16);
}

export function tableNames(name: string, config: IntegrationConfig): IntegrationPlan['tables'] {
  return {
    master: config.tables?.master ?? name,
    provenance: config.tables?.provenance ?? `${name}_provenance`,
    xref: config.tables?.xref ?? `${name}_xref`,
    sourceQuality: config.tables?.sourceQuality ?? `${name}_source_quality`,
  };
}

/** Every gold table an integration writes, for other sections' "is this a known table?" checks. */
export function integrationOutputs(config: ProjectConfig): string[] {
  return Object.entries(config.integrate ?? {}).flatMap(([name, c]) => outputTables({ tables: tableNames(name, c) }));
}

function parseRef(ref: string): RecordRef {
  const at = ref.indexOf(':');
  return { source: ref.slice(0, at), key: ref.slice(at + 1) };
}

function ruleSources(rule: SurvivorshipRule): string[] {
  if (typeof rule === 'string') return [];
  if ('source' in rule) return [rule.source];
  if ('priority' in rule) return rule.priority;
  if ('rule' in rule) return rule.sources ?? [];
  return [];
}

/** Semantic checks of the `integrate` section (the shape is zod's): names that must exist, rules that must fit. */
export function integrationIssues(ctx: IssueContext, config: ProjectConfig): ErrorData[] {
  const issues: ErrorData[] = [];
  const silver = config.silver ?? {};
  const tables = [...Object.keys(silver).map((n) => `silver.${n}`), ...Object.keys(config.gold ?? {}).map((n) => `gold.${n}`)];
  const taken = new Map<string, string>(Object.keys(config.gold ?? {}).map((n) => [`gold.${n}`, `gold.${n}`]));
  const entities = new Map<string, string>();
  for (const [name, integration] of Object.entries(config.integrate ?? {})) {
    const at = (...rest: KeyPath): KeyPath => ['integrate', name, ...rest];
    const issue = (path: KeyPath, init: Parameters<typeof configIssue>[2]): void => void issues.push(configIssue(ctx, path, init));
    const fieldNames = Object.keys(integration.fields);
    const sourceNames = Object.keys(integration.sources);
    const unknownField = (path: KeyPath, field: string, what: string): void =>
      issue(path, {
        code: 'config_unknown_field',
        value: field,
        problem: `${what} '${field}' is not a field of ${integration.entity}`,
        allowed: fieldNames.join(', '),
        hint: closest(field, fieldNames) ? `Did you mean '${closest(field, fieldNames)}'?` : `Declare it under integrate.${name}.fields.`,
      });
    const unknownSource = (path: KeyPath, source: string): void =>
      issue(path, {
        code: 'config_unknown_source',
        value: source,
        problem: `there is no source '${source}' in integrate.${name}.sources`,
        allowed: sourceNames.join(', '),
        hint: closest(source, sourceNames) ? `Did you mean '${closest(source, sourceNames)}'?` : 'Name one of the sources of this integration.',
      });

    const other = entities.get(integration.entity);
    if (other) issue(at('entity'), { code: 'config_duplicate_entity', problem: `integrate.${other} already integrates '${integration.entity}'`, hint: 'Give each integration its own entity name.' });
    entities.set(integration.entity, name);
    for (const [role, table] of Object.entries(tableNames(name, integration))) {
      const qualified = `gold.${table}`;
      const owner = taken.get(qualified);
      if (owner) {
        issue(integration.tables?.[role as keyof IntegrationPlan['tables']] ? at('tables', role) : at(), {
          code: 'config_duplicate_table',
          value: qualified,
          problem: `${qualified} is already written by ${owner}`,
          hint: `Name the table differently with integrate.${name}.tables.${role}.`,
        });
      }
      taken.set(qualified, `integrate.${name}`);
    }
    if (fieldNames.includes(integration.key)) {
      issue(at('key'), { code: 'config_key_is_field', problem: `'${integration.key}' is both the master id column and a field`, hint: 'Rename the field or the key.' });
    }
    for (const field of fieldNames.filter((f) => f.startsWith('_'))) {
      issue(at('fields', field), { code: 'config_invalid_name', problem: `field names starting with _ are reserved for Refinery's own columns`, hint: 'Rename the field.' });
    }

    for (const [sourceName, source] of Object.entries(integration.sources)) {
      const sat = (...rest: KeyPath): KeyPath => at('sources', sourceName, ...rest);
      if (!tables.includes(source.table)) {
        issue(sat('table'), {
          code: 'config_unknown_table',
          value: source.table,
          problem: `no step builds '${source.table}'`,
          allowed: tables.join(', ') || '(no silver tables declared)',
          hint: closest(source.table, tables) ? `Did you mean '${closest(source.table, tables)}'?` : 'Integrations read silver (or gold) tables of this project.',
        });
      }
      const [layer, tableName] = source.table.split('.') as [string, string];
      const columns = layer === 'silver' ? Object.keys(silver[tableName]?.columns ?? {}) : undefined;
      const columnIssue = (path: KeyPath, column: string, what: string): void => {
        if (!columns || columns.length === 0 || columns.includes(column)) return;
        issue(path, {
          code: 'config_unknown_column',
          value: column,
          problem: `${what} '${column}' is not a column of ${source.table}`,
          allowed: columns.join(', '),
          hint: closest(column, columns) ? `Did you mean '${closest(column, columns)}'?` : `Use one of the columns of ${source.table}.`,
        });
      };
      columnIssue(sat('key'), source.key, 'key column');
      if (source.updatedAt) columnIssue(sat('updatedAt'), source.updatedAt, 'updatedAt column');
      for (const [field, mapping] of Object.entries(source.fields)) {
        if (!fieldNames.includes(field)) unknownField(sat('fields', field), field, 'mapped field');
        if (typeof mapping === 'string') columnIssue(sat('fields', field), mapping, 'column');
        else if (mapping.column) columnIssue(sat('fields', field, 'column'), mapping.column, 'column');
        else if (!mapping.sql) issue(sat('fields', field), { code: 'config_mapping_empty', problem: `needs a column or sql`, hint: `Write ${field}: '<column>' or ${field}: { sql: '<expression>' }.` });
      }
      for (const field of Object.keys(source.values ?? {})) {
        if (!(field in source.fields)) issue(sat('values', field), { code: 'config_unknown_field', value: field, problem: `source '${sourceName}' does not map '${field}'`, allowed: Object.keys(source.fields).join(', '), hint: 'Value maps apply to fields the source maps.' });
      }
    }

    for (const [field, f] of Object.entries(integration.fields)) {
      const mapped = Object.values(integration.sources).some((s) => field in s.fields);
      if (!mapped && f.default === undefined) {
        issue(at('fields', field), { code: 'config_field_unmapped', problem: `no source maps '${field}' and it has no default`, allowed: sourceNames.join(', '), hint: `Map it in a source's fields, or give it a default.` });
      }
      (f.rules ?? []).forEach((rule, i) => {
        for (const s of ruleSources(rule)) if (!sourceNames.includes(s)) unknownSource(at('fields', field, 'rules', i), s);
        if (typeof rule === 'object' && 'rule' in rule && rule.rule === 'most_recent' && !Object.values(integration.sources).some((s) => s.updatedAt)) {
          issue(at('fields', field, 'rules', i), { code: 'config_rule_needs_timestamp', problem: `most_recent needs business timestamps, and no source sets updatedAt`, hint: "Set updatedAt: '<column>' on the sources." });
        }
      });
      if ((f.rules ?? []).includes('most_recent') && !Object.values(integration.sources).some((s) => s.updatedAt)) {
        issue(at('fields', field, 'rules'), { code: 'config_rule_needs_timestamp', problem: `most_recent needs business timestamps, and no source sets updatedAt`, hint: "Set updatedAt: '<column>' on the sources." });
      }
    }

    const match = integration.match ?? {};
    (match.rules ?? []).forEach((rule, i) => {
      if (rule === 'key') {
        if (i > 0) issue(at('match', 'rules', i), { code: 'config_key_rule_first', problem: `'key' must be the first matching rule`, hint: 'Records sharing an id are grouped before any other rule: move it first.' });
        return;
      }
      for (const [j, field] of (Array.isArray(rule) ? rule : [rule]).entries()) if (!fieldNames.includes(field)) unknownField(Array.isArray(rule) ? at('match', 'rules', i, j) : at('match', 'rules', i), field, 'matching field');
    });
    if (match.fuzzy) {
      for (const field of Object.keys(match.fuzzy.compare)) if (!fieldNames.includes(field)) unknownField(at('match', 'fuzzy', 'compare', field), field, 'compared field');
      match.fuzzy.blocking.forEach((rule, i) => {
        (Array.isArray(rule) ? rule : [rule]).forEach((key, j) => {
          if (typeof key !== 'string') return;
          const [field, transform] = key.split(':') as [string, string | undefined];
          const path = Array.isArray(rule) ? at('match', 'fuzzy', 'blocking', i, j) : at('match', 'fuzzy', 'blocking', i);
          if (!fieldNames.includes(field)) unknownField(path, field, 'blocking field');
          if (transform && !(BLOCKING_TRANSFORMS as readonly string[]).includes(transform)) {
            issue(path, { code: 'config_unknown_transform', value: key, problem: `'${transform}' is not a blocking transform`, allowed: BLOCKING_TRANSFORMS.join(', '), hint: `Write e.g. '${field}:last_word'.` });
          }
        });
      });
    }
    for (const kind of ['mustLink', 'cannotLink'] as const) {
      (match[kind] ?? []).forEach((pair, i) => {
        pair.forEach((ref, j) => {
          const source = parseRef(ref).source;
          if (!sourceNames.includes(source)) unknownSource(at('match', kind, i, j), source);
        });
        if (kind === 'mustLink' && parseRef(pair[0]).source === parseRef(pair[1]).source) {
          issue(at('match', kind, i), { code: 'config_must_link_same_source', problem: `two records of source '${parseRef(pair[0]).source}' cannot be one ${integration.entity}: an entity holds at most one record per source`, hint: 'Fix the duplicate in the source system, or link records of different sources.' });
        }
      });
    }
  }
  return issues;
}

function rulePlan(rule: SurvivorshipRule, index: number): RulePlan {
  if (typeof rule === 'string') return { kind: rule };
  if ('source' in rule) return { kind: 'source', source: rule.source };
  if ('priority' in rule) return { kind: 'priority_list', sources: rule.priority };
  if ('custom' in rule) return { kind: 'custom', name: rule.name ?? (rule.custom.name || `rule${index + 1}`), fn: rule.custom };
  return { kind: rule.rule, ...(rule.sources ? { sources: rule.sources } : {}) };
}

function blockingKey(key: string | { sql: string }): BlockingKeyPlan {
  if (typeof key !== 'string') return { sql: key.sql };
  const [field, transform] = key.split(':') as [string, string | undefined];
  return { field, transform: (transform ?? 'exact') as BlockingTransform };
}

function levelPlan(level: FieldComparison['levels'][number]): ComparisonLevelPlan {
  if ('exact' in level) return { test: { exact: true }, weight: level.weight };
  if ('initials' in level) return { test: { initials: true }, weight: level.weight };
  if ('jaroWinkler' in level) return { test: { jaroWinkler: level.jaroWinkler }, weight: level.weight };
  return { test: { levenshtein: level.levenshtein }, weight: level.weight };
}

/** Resolves a validated `integrate` entry into its plan. */
export function integrationPlan(name: string, config: IntegrationConfig): IntegrationPlan {
  const declared = Object.entries(config.sources);
  const ordered = declared
    .map(([sourceName, s], i) => ({ sourceName, s, i }))
    .sort((a, b) => (a.s.priority ?? a.i) - (b.s.priority ?? b.i) || a.i - b.i);
  const sources: IntegrationSourcePlan[] = ordered.map(({ sourceName, s, i }, rank) => {
    const [schema, table] = s.table.split('.') as [string, string];
    return {
      name: sourceName,
      label: s.label ?? sourceName,
      schema,
      table,
      key: s.key,
      ...(s.updatedAt ? { updatedAt: s.updatedAt } : {}),
      rank,
      declared: i,
      fields: Object.entries(s.fields).map(([field, m]) => ({
        field,
        ...(typeof m === 'string' ? { column: m } : m.column ? { column: m.column } : {}),
        ...(typeof m === 'object' && m.sql ? { sql: m.sql } : {}),
        values: Object.entries(s.values?.[field] ?? {}),
      })),
      trust: s.trust ?? 1,
      ...(s.trustHalfLife === undefined ? {} : { trustHalfLifeDays: parseDuration(s.trustHalfLife) / 86_400_000 }),
    };
  });
  const fields: IntegrationFieldPlan[] = Object.entries(config.fields).map(([field, f]) => ({
    name: field,
    kind: f.kind ?? 'text',
    type: f.type ?? 'text',
    clean: f.clean ?? [],
    rules: (f.rules ?? ['priority']).map(rulePlan),
    ...(f.default === undefined ? {} : { default: f.default }),
    ...(f.valid ? { valid: f.valid } : {}),
  }));
  const rules = config.match?.rules ?? ['key'];
  const fuzzyConfig = config.match?.fuzzy;
  const fuzzy: FuzzyPlan | undefined = fuzzyConfig && {
    blocking: fuzzyConfig.blocking.map((rule) => (Array.isArray(rule) ? rule : [rule]).map(blockingKey)),
    compare: Object.entries(fuzzyConfig.compare).map(([field, c]) => {
      const comparison = typeof c === 'string' ? PRESETS[c] : c;
      return { field, levels: comparison.levels.map(levelPlan), otherwise: comparison.else ?? 0 };
    }),
    threshold: fuzzyConfig.threshold,
  };
  const pairs = (list: [string, string][] | undefined): (readonly [RecordRef, RecordRef])[] => (list ?? []).map(([a, b]) => [parseRef(a), parseRef(b)] as const);
  const match = {
    byKey: rules.includes('key'),
    deterministic: rules.filter((r) => r !== 'key').map((r) => (Array.isArray(r) ? r : [r])),
    ...(fuzzy ? { fuzzy } : {}),
    mustLink: pairs(config.match?.mustLink),
    cannotLink: pairs(config.match?.cannotLink),
  };
  const tables = tableNames(name, config);
  const confidence = config.confidence ?? 'equal';
  return {
    name,
    entity: config.entity,
    key: config.key,
    tables,
    sources,
    fields,
    match,
    confidence,
    reads: [...new Set(sources.map((s) => `${s.schema}.${s.table}`))].sort(),
    fingerprints: {
      shape: fingerprint({ v: 1, key: config.key, tables, fields: fields.map((f) => [f.name, f.type]) }),
      survivorship: fingerprint({ v: 1, fields: fields.map((f) => ({ ...f, clean: undefined })), confidence, sources: sources.map((s) => [s.name, s.label, s.rank, s.trust, s.trustHalfLifeDays]) }),
      matching: fingerprint({ v: 1, match }),
      mapping: fingerprint({ v: 1, sources: sources.map((s) => [s.name, s.schema, s.table, s.key, s.updatedAt, s.fields]), clean: fields.map((f) => [f.name, f.clean, f.kind]) }),
    },
  };
}
