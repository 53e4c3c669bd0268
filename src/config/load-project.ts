import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { createJiti } from 'jiti';
import { RefineryError, configError, usageError, type ErrorData } from '../errors.js';
import type { SqlParser } from '../warehouse/warehouse.js';
import { closest, configIssue, fromZodIssue, type IssueContext, type KeyPath } from './config-issues.js';
import { deepFreeze, type CheckPlan, type ColumnPlan, type GoldPlan, type Plan, type SilverPlan, type SourcePlan, type StepPlan, type TaskPlan, type PostgresSourcePlan, type FileSourcePlan, type MysqlSourcePlan, type HttpSourcePlan } from './plan.js';
import { projectSchema } from './project-schema.js';
import type { Duration, FileSourceConfig, HttpSourceConfig, MysqlSourceConfig, PostgresSourceConfig, ProjectConfig, RetryConfig, SilverTableConfig, StepOptions } from './types.js';
import { NO_RETRY, type RetryPolicy } from '../orchestrator/retry-policy.js';
import { parseDuration } from '../orchestrator/durations.js';
import { cronProblem } from '../orchestrator/schedule.js';
import { integrationIssues, integrationOutputs, integrationPlan } from '../integrate/integration-config.js';
import { outputTables, type IntegrationPlan } from '../integrate/integration-plan.js';
import { INGEST_DATE, contractPlan, downstreamPartitions, partitionPlans, publishPlan, schemaConfigIssues } from './schema-config.js';

export const CONFIG_FILE_NAMES = ['refinery.config.ts', 'refinery.config.mts', 'refinery.config.js', 'refinery.config.mjs'];

/** Bumped when the SQL Refinery generates for silver changes, so existing tables are rebuilt with the new rules. */
const SILVER_RULES_VERSION = 1;

export interface LoadedProject {
  readonly dir: string;
  readonly file: string;
  readonly text: string;
  readonly config: ProjectConfig;
}

function selfEntry(): string {
  // The project file's `import ... from 'refinery'` must resolve to this very package, even when the project
  // lives outside any node_modules: alias it to our own entry (compiled .js when built, .ts under the test runner).
  const js = fileURLToPath(new URL('../project-file.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('../project-file.ts', import.meta.url));
}

/** Phase 1: find, import and validate the project file. */
export async function readProject(projectDir: string): Promise<LoadedProject> {
  const dir = resolve(projectDir);
  if (!existsSync(dir)) {
    throw usageError({ code: 'project_not_found', file: dir, message: `The project directory ${dir} does not exist.`, hint: 'Pass --project <dir>, or create one with `refinery init <dir>`.' });
  }
  const name = CONFIG_FILE_NAMES.find((n) => existsSync(join(dir, n)));
  if (!name) {
    throw usageError({
      code: 'project_file_missing',
      file: dir,
      message: `No refinery.config.ts in ${dir}.`,
      hint: 'Run refinery from a project directory, pass --project <dir>, or scaffold one with `refinery init <dir>`.',
    });
  }
  const file = join(dir, name);
  const text = readFileSync(file, 'utf8');
  const jiti = createJiti(import.meta.url, { alias: { refinery: selfEntry() }, moduleCache: false, fsCache: false, interopDefault: true });
  let loaded: unknown;
  try {
    loaded = await jiti.import(file, { default: true });
  } catch (error) {
    throw importFailure(file, error);
  }
  const ctx: IssueContext = { file, text, config: loaded };
  if (loaded === null || typeof loaded !== 'object') {
    throw configError({
      code: 'config_no_default_export',
      file,
      message: `${name} does not export a project.`,
      allowed: 'export default defineProject({ ... })',
      hint: "Add `export default defineProject({ name, sources, silver, gold })`, importing defineProject from 'refinery'.",
    });
  }
  const parsed = projectSchema.safeParse(loaded);
  const issues: ErrorData[] = parsed.success ? [] : parsed.error.issues.map((i) => fromZodIssue(ctx, i));
  if (issues.length === 0) issues.push(...semanticIssues(ctx, loaded as ProjectConfig), ...schemaConfigIssues(ctx, loaded as ProjectConfig));
  if (issues.length > 0) throw configError(issues[0] as ErrorData, issues);
  return { dir, file, text, config: loaded as ProjectConfig };
}

function importFailure(file: string, error: unknown): RefineryError {
  const message = error instanceof Error ? error.message : String(error);
  const stackLine = error instanceof Error ? new RegExp(`${escapeRe(file)}:(\\d+)`).exec(error.stack ?? '')?.[1] : undefined;
  const loc = /\((\d+):(\d+)\)/.exec(message)?.[1] ?? stackLine;
  const line = loc ? Number(loc) : undefined;
  return configError({
    code: 'config_import_failed',
    file,
    ...(line ? { line } : {}),
    message: `${file.split('/').pop()} could not be loaded: ${message.split('\n')[0]}`,
    hint: 'Fix the TypeScript error in the project file, then run the command again.',
  });
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function asList(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

export function inferFormat(source: FileSourceConfig): FileSourcePlan['format'] | undefined {
  if (source.format) return source.format;
  const ext = extname(source.path).toLowerCase();
  if (ext === '.csv' || ext === '.tsv' || ext === '.txt') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.json') return 'json';
  if (ext === '.parquet') return 'parquet';
  return undefined;
}

function semanticIssues(ctx: IssueContext, config: ProjectConfig): ErrorData[] {
  const issues: ErrorData[] = [];
  const sources = config.sources ?? {};
  const sourceNames = Object.keys(sources);
  const silver = config.silver ?? {};
  const silverNames = Object.keys(silver);
  for (const [name, source] of Object.entries(sources)) {
    if (source.kind === 'postgres' || source.kind === 'mysql') {
      issues.push(...postgresSourceIssues(ctx, name, source));
      continue;
    }
    if (source.kind === 'http') {
      issues.push(...httpSourceIssues(ctx, name, source));
      continue;
    }
    if (!inferFormat(source)) {
      issues.push(configIssue(ctx, ['sources', name, 'path'], {
        code: 'config_unknown_format',
        problem: `cannot tell the file format from '${source.path}'`,
        allowed: "'csv', 'jsonl', 'json', 'parquet'",
        hint: `Add format: 'csv' (or another allowed format) to sources.${name}.`,
      }));
    }
    if (isAbsolute(source.path) || source.path.split('/').includes('..')) {
      issues.push(configIssue(ctx, ['sources', name, 'path'], {
        code: 'config_path_outside_project',
        problem: `'${source.path}' is outside the project directory`,
        hint: 'Landing zones live inside the project: use a relative path such as landing/<source>/*.csv.',
      }));
    }
  }
  for (const [name, table] of Object.entries(silver)) {
    const at = (...rest: KeyPath): KeyPath => ['silver', name, ...rest];
    const from = table.from ?? name;
    if (!sources[from]) {
      issues.push(configIssue(ctx, table.from ? at('from') : at(), {
        code: 'config_unknown_source',
        value: from,
        problem: `there is no source named '${from}'${table.from ? '' : ' (a silver table reads the source of the same name unless `from` says otherwise)'}`,
        allowed: sourceNames.join(', ') || '(no sources declared)',
        hint: closest(from, sourceNames) ? `Did you mean '${closest(from, sourceNames)}'?` : `Declare sources.${from}, or set silver.${name}.from to one of the sources.`,
      }));
    }
    const columnNames = Object.keys(table.columns);
    const fromSource = sources[from];
    const declared = fromSource && (fromSource.kind === undefined || fromSource.kind === 'files') ? fromSource.columns : undefined;
    const required = declared && declared.length > 0 ? declared : undefined;
    for (const [columnName, column] of Object.entries(table.columns)) {
      const raw = column.from ?? columnName;
      if (required && !column.sql && !required.includes(raw)) {
        issues.push(configIssue(ctx, column.from ? at('columns', columnName, 'from') : at('columns', columnName), {
          code: 'config_unknown_column',
          value: raw,
          problem: `source '${from}' has no column '${raw}'`,
          allowed: required.join(', '),
          hint: `Set from: '<raw column>' for ${columnName}, or add '${raw}' to sources.${from}.columns.`,
        }));
      }
      if (column.formats && column.type !== 'date' && column.type !== 'timestamp') {
        issues.push(configIssue(ctx, at('columns', columnName, 'formats'), {
          code: 'config_formats_need_date',
          problem: `formats only apply to date and timestamp columns, and '${columnName}' is ${column.type ?? 'text'}`,
          hint: `Add type: 'date' (or 'timestamp'), or remove formats.`,
        }));
      }
    }
    const columnIssue = (path: KeyPath, value: string, what: string): void => {
      issues.push(configIssue(ctx, path, {
        code: 'config_unknown_column',
        value,
        problem: `${what} '${value}' is not a column of silver.${name}`,
        allowed: columnNames.join(', '),
        hint: closest(value, columnNames) ? `Did you mean '${closest(value, columnNames)}'?` : `Declare it under silver.${name}.columns.`,
      }));
    };
    asList(table.key).forEach((k, i) => columnNames.includes(k) || columnIssue(Array.isArray(table.key) ? at('key', i) : at('key'), k, 'key column'));
    asList(table.latest).forEach((k, i) => columnNames.includes(k) || columnIssue(Array.isArray(table.latest) ? at('latest', i) : at('latest'), k, 'latest column'));
    if ((table.materialize === 'merge' || table.materialize === 'scd2') && asList(table.key).length === 0) {
      issues.push(configIssue(ctx, at('materialize'), {
        code: 'config_merge_needs_key',
        problem: `${table.materialize} needs a key to match new rows with existing ones`,
        hint: `Add key: '<column>' to silver.${name}, or use materialize: 'replace'.`,
      }));
    }
    if (table.latest !== undefined && asList(table.key).length === 0) {
      issues.push(configIssue(ctx, at('latest'), {
        code: 'config_latest_needs_key',
        problem: `latest decides between versions of the same key, but silver.${name} has no key`,
        hint: `Add key: '<column>' to silver.${name}, or remove latest.`,
      }));
    }
    (table.checks ?? []).forEach((check, i) => {
      const rule = check.rule;
      const needsColumn = !(typeof rule === 'object' && 'sql' in rule);
      if (needsColumn && !check.column) {
        issues.push(configIssue(ctx, at('checks', i), {
          code: 'config_check_needs_column',
          problem: `check '${check.name}' needs a column to apply its rule to`,
          allowed: columnNames.join(', '),
          hint: `Add column: '<column>' to the check.`,
        }));
      } else if (check.column && !columnNames.includes(check.column)) {
        columnIssue(at('checks', i, 'column'), check.column, 'check column');
      }
      const columnType = check.column ? (table.columns[check.column]?.type ?? 'text') : undefined;
      const numeric = columnType === 'integer' || columnType === 'double' || columnType?.startsWith('decimal');
      if (typeof rule === 'object' && ('min' in rule || 'max' in rule) && check.column && columnType && !numeric) {
        issues.push(configIssue(ctx, at('checks', i, 'rule'), {
          code: 'config_range_needs_number',
          problem: `min and max compare numbers, but '${check.column}' is ${columnType}`,
          allowed: "columns of type 'integer', 'double', 'decimal' or 'decimal(p,s)'",
          hint: `Give silver.${name}.columns.${check.column} a numeric type, or use { sql: '...' } for another comparison.`,
        }));
      }
      if (rule === 'parses' && check.column && (table.columns[check.column]?.type ?? 'text') === 'text') {
        issues.push(configIssue(ctx, at('checks', i, 'rule'), {
          code: 'config_parses_needs_type',
          problem: `'parses' checks that text converted to the column's type, but '${check.column}' is text`,
          hint: `Give silver.${name}.columns.${check.column} a type (e.g. 'date'), or use another rule.`,
        }));
      }
      if (typeof rule === 'object' && 'references' in rule) {
        const [, target, targetColumn] = rule.references.split('.') as [string, string, string];
        const targetTable = silver[target];
        if (!targetTable || target === name) {
          issues.push(configIssue(ctx, at('checks', i, 'rule', 'references'), {
            code: 'config_unknown_reference',
            problem: target === name ? `a table cannot reference itself` : `there is no silver table '${target}'`,
            allowed: silverNames.filter((s) => s !== name).map((s) => `silver.${s}`).join(', '),
            hint: 'Reference another silver table as silver.<table>.<column>.',
          }));
        } else if (!Object.keys(targetTable.columns).includes(targetColumn)) {
          issues.push(configIssue(ctx, at('checks', i, 'rule', 'references'), {
            code: 'config_unknown_reference',
            problem: `silver.${target} has no column '${targetColumn}'`,
            allowed: Object.keys(targetTable.columns).join(', '),
            hint: 'Reference one of its columns.',
          }));
        }
      }
    });
  }
  issues.push(...stepOptionIssues(ctx, config));
  issues.push(...integrationIssues(ctx, config));
  issues.push(...serviceIssues(ctx, config));
  return issues;
}

function validZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function serviceIssues(ctx: IssueContext, config: ProjectConfig): ErrorData[] {
  const issues: ErrorData[] = [];
  const names = stepNames(config);
  const zoneIssue = (path: KeyPath, zone: string): void => {
    if (!validZone(zone)) issues.push(configIssue(ctx, path, { code: 'config_unknown_timezone', problem: `'${zone}' is not a time zone`, allowed: "IANA names such as 'UTC', 'Europe/London', 'America/New_York'", hint: 'Use an IANA time zone name.' }));
  };
  const selectIssue = (path: KeyPath, selectors: readonly string[]): void => {
    selectors.forEach((sel, i) => {
      const name = sel.replace(/^\+/, '').replace(/\+$/, '');
      if (sel.startsWith('layer:') || sel.startsWith('tag:') || names.includes(name)) return;
      const suggestion = closest(name, names);
      issues.push(configIssue(ctx, [...path, i], { code: 'config_unknown_step', problem: `there is no step '${name}'`, allowed: names.join(', '), hint: suggestion ? `Did you mean '${suggestion}'?` : 'Use a step name, +name, name+, layer:<layer> or tag:<tag>.' }));
    });
  };
  for (const [name, schedule] of Object.entries(config.schedules ?? {})) {
    if (schedule.cron) {
      const problem = cronProblem(schedule.cron, schedule.timezone);
      if (problem) issues.push(configIssue(ctx, ['schedules', name, 'cron'], { code: 'config_invalid_cron', problem: `'${schedule.cron}' is not a valid cron expression: ${problem}`, allowed: "'sec min hour day month weekday' or 'min hour day month weekday', e.g. '0 0 7 * * *' (07:00:00 daily)", hint: 'Fix the expression.' }));
    }
    if (schedule.timezone) zoneIssue(['schedules', name, 'timezone'], schedule.timezone);
    if (schedule.select) selectIssue(['schedules', name, 'select'], schedule.select);
  }
  const tables = [...Object.keys(config.silver ?? {}).map((n) => `silver.${n}`), ...Object.keys(config.gold ?? {}).map((n) => `gold.${n}`), ...integrationOutputs(config)];
  for (const [table, f] of Object.entries(config.alerts?.freshness ?? {})) {
    if (!tables.includes(table)) issues.push(configIssue(ctx, ['alerts', 'freshness', table], { code: 'config_unknown_table', value: table, problem: `no step builds '${table}'`, allowed: tables.join(', '), hint: 'Name a silver or gold table of this project.' }));
    if (f.timezone) zoneIssue(['alerts', 'freshness', table, 'timezone'], f.timezone);
  }
  for (const table of Object.keys(config.alerts?.quality ?? {})) {
    if (!tables.includes(table)) issues.push(configIssue(ctx, ['alerts', 'quality', table], { code: 'config_unknown_table', value: table, problem: `no step builds '${table}'`, allowed: tables.filter((t) => t.startsWith('silver.')).join(', '), hint: 'Name a silver table of this project.' }));
  }
  if (config.triggers?.files && typeof config.triggers.files === 'object' && config.triggers.files.select) selectIssue(['triggers', 'files', 'select'], config.triggers.files.select);
  return issues;
}

/** Step names every `after` may refer to: tables by layer, tasks by key. */
function stepNames(config: ProjectConfig): string[] {
  return [
    ...Object.keys(config.sources ?? {}).map((n) => `bronze.${n}`),
    ...Object.keys(config.silver ?? {}).map((n) => `silver.${n}`),
    ...Object.keys(config.gold ?? {}).map((n) => `gold.${n}`),
    ...Object.keys(config.integrate ?? {}).map((n) => `integrate.${n}`),
    ...Object.keys(config.tasks ?? {}),
  ];
}

function stepOptionIssues(ctx: IssueContext, config: ProjectConfig): ErrorData[] {
  const issues: ErrorData[] = [];
  const names = stepNames(config);
  const pools = Object.keys(config.pools ?? {});
  const sections: [string, Record<string, StepOptions> | undefined, string][] = [
    ['sources', config.sources, 'bronze'],
    ['silver', config.silver, 'silver'],
    ['gold', config.gold, 'gold'],
    ['integrate', config.integrate, 'integrate'],
    ['tasks', config.tasks, ''],
  ];
  for (const [section, entries, layer] of sections) {
    for (const [name, options] of Object.entries(entries ?? {})) {
      const self = layer ? `${layer}.${name}` : name;
      (options.after ?? []).forEach((dep, i) => {
        if (names.includes(dep) && dep !== self) return;
        const suggestion = closest(dep, names);
        issues.push(configIssue(ctx, [section, name, 'after', i], {
          code: 'config_unknown_step',
          problem: dep === self ? `a step cannot run after itself` : `there is no step '${dep}'`,
          allowed: names.filter((n) => n !== self).join(', '),
          hint: suggestion ? `Did you mean '${suggestion}'? Tables are named <layer>.<table>, tasks by their key.` : 'Tables are named <layer>.<table> (e.g. silver.customers), tasks by their key.',
        }));
      });
      if (options.pool !== undefined && !pools.includes(options.pool)) {
        issues.push(configIssue(ctx, [section, name, 'pool'], {
          code: 'config_unknown_pool',
          problem: `there is no pool '${options.pool}'`,
          allowed: pools.join(', ') || '(no pools declared)',
          hint: `Declare it with its slots, e.g. pools: { '${options.pool}': 2 }.`,
        }));
      }
    }
  }
  return issues;
}

/** Checks shared by the database sources (PostgreSQL and MySQL). */
function postgresSourceIssues(ctx: IssueContext, name: string, source: PostgresSourceConfig | MysqlSourceConfig): ErrorData[] {
  const issues: ErrorData[] = [];
  const at = (...rest: KeyPath): KeyPath => ['sources', name, ...rest];
  const url = source.connection?.url;
  if (url && /:\/\/[^/@]*:[^/@]+@/.test(url)) {
    issues.push(configIssue(ctx, at('connection', 'url'), {
      code: 'config_secret_in_file',
      value: url.replace(/(:\/\/[^/:@]*:)[^/@]+@/, '$1***@'),
      problem: 'the URL contains a password, and secrets must not live in the project file',
      hint: `Put the whole URL in an environment variable and write connection: { urlEnv: '${name.toUpperCase()}_DATABASE_URL' }, or keep the URL without the password and add passwordEnv.`,
    }));
  }
  const strategy = source.load?.strategy ?? 'full';
  const key = asList(source.key);
  if ((strategy === 'snapshot' || strategy === 'cdc') && key.length === 0) {
    issues.push(configIssue(ctx, at('key'), {
      code: 'config_strategy_needs_key',
      value: undefined,
      problem: `the ${strategy} strategy tells inserts, updates and deletes apart by key, but sources.${name} has no key`,
      hint: `Add key: '<primary key column>' to sources.${name}.`,
    }));
  }
  if (strategy === 'cursor' && !source.load?.cursor) {
    issues.push(configIssue(ctx, at('load'), {
      code: 'config_cursor_needs_column',
      problem: 'the cursor strategy needs the column that grows with each change',
      hint: "Add cursor: 'updated_at' (or an increasing id) to load.",
    }));
  }
  if (strategy !== 'cursor' && (source.load?.cursor || source.load?.lag !== undefined || source.load?.since)) {
    issues.push(configIssue(ctx, at('load', source.load?.cursor ? 'cursor' : source.load?.lag !== undefined ? 'lag' : 'since'), {
      code: 'config_option_needs_cursor',
      problem: `cursor, lag and since only apply to strategy 'cursor', not '${strategy}'`,
      hint: "Remove it, or use strategy: 'cursor'.",
    }));
  }
  return issues;
}

function httpSourceIssues(ctx: IssueContext, name: string, source: HttpSourceConfig): ErrorData[] {
  const issues: ErrorData[] = [];
  const at = (...rest: KeyPath): KeyPath => ['sources', name, ...rest];
  if (/:\/\/[^/@]*:[^/@]*@/.test(source.url) || /:\/\/[^/:@]+@/.test(source.url)) {
    issues.push(configIssue(ctx, at('url'), {
      code: 'config_secret_in_file',
      value: source.url.replace(/(:\/\/)[^/@]*@/, '$1***@'),
      problem: 'the URL contains credentials, and secrets must not live in the project file',
      hint: `Remove them from the URL and send them as a header from an environment variable: auth: { valueEnv: '${name.toUpperCase()}_API_TOKEN', prefix: 'Bearer ' }.`,
    }));
  }
  const load = source.load;
  if (load?.strategy === 'cursor' && (!load.param || !load.field)) {
    issues.push(configIssue(ctx, at('load'), {
      code: 'config_cursor_needs_column',
      problem: `the cursor strategy needs ${!load.param ? 'the query parameter that carries the watermark' : 'the record field whose greatest value becomes the next watermark'}`,
      hint: "Add param: 'updated_since' (the API's parameter) and field: 'updated_at' (a field of each record) to load.",
    }));
  }
  if (load && load.strategy !== 'cursor' && (load.param || load.field || load.since)) {
    issues.push(configIssue(ctx, at('load', load.param ? 'param' : load.field ? 'field' : 'since'), {
      code: 'config_option_needs_cursor',
      problem: `param, field and since only apply to strategy 'cursor', not '${load.strategy}'`,
      hint: "Remove it, or use strategy: 'cursor'.",
    }));
  }
  return issues;
}

/** The load settings PostgreSQL and MySQL sources share. */
function databaseLoad<S extends string>(load: { strategy: S; cursor?: string; lag?: Duration; since?: string } | undefined) {
  return {
    strategy: load?.strategy ?? ('full' as const),
    ...(load?.cursor ? { cursor: load.cursor } : {}),
    lagMs: load?.lag === undefined ? 0 : parseDuration(load.lag),
    ...(load?.since ? { since: load.since } : {}),
  };
}

function mysqlPlan(name: string, s: MysqlSourceConfig): MysqlSourcePlan {
  return {
    kind: 'mysql',
    name,
    connection: { ...(s.connection ?? {}) },
    table: s.table,
    columns: s.columns ?? [],
    key: asList(s.key),
    load: {
      ...databaseLoad(s.load),
    },
  };
}

function httpPlan(name: string, s: HttpSourceConfig): HttpSourcePlan {
  const p = s.pagination ?? { type: 'none' };
  const maxPages = 'maxPages' in p && p.maxPages !== undefined ? { maxPages: p.maxPages } : {};
  const pagination: HttpSourcePlan['pagination'] =
    p.type === 'page'
      ? { type: 'page', param: p.param ?? 'page', sizeParam: p.sizeParam ?? 'per_page', size: p.size ?? 100, start: p.start ?? 1, ...maxPages }
      : p.type === 'offset'
        ? { type: 'offset', param: p.param ?? 'offset', limitParam: p.limitParam ?? 'limit', limit: p.limit ?? 100, ...maxPages }
        : p.type === 'cursor'
          ? { type: 'cursor', field: p.field.split('.'), param: p.param ?? 'cursor', ...maxPages }
          : p.type === 'link'
            ? { type: 'link', ...maxPages }
            : { type: 'none' };
  return {
    kind: 'http',
    name,
    url: s.url,
    params: Object.fromEntries(Object.entries(s.params ?? {}).map(([k, v]) => [k, String(v)])),
    records: s.records ? s.records.split('.') : [],
    pagination,
    ...(s.auth ? { auth: { header: s.auth.header ?? 'Authorization', valueEnv: s.auth.valueEnv, prefix: s.auth.prefix ?? '' } } : {}),
    ...(s.rateLimit ? { rateLimit: { perSecond: s.rateLimit.perSecond } } : {}),
    request: {
      timeoutMs: parseDuration(s.request?.timeout ?? '30s'),
      attempts: s.request?.attempts ?? 5,
      delayMs: parseDuration(s.request?.delay ?? '1s'),
      maxDelayMs: parseDuration(s.request?.maxDelay ?? '30s'),
    },
    load: {
      strategy: s.load?.strategy ?? 'full',
      ...(s.load?.param ? { param: s.load.param } : {}),
      ...(s.load?.field ? { field: s.load.field } : {}),
      ...(s.load?.since ? { since: s.load.since } : {}),
    },
  };
}

function postgresPlan(project: string, name: string, s: PostgresSourceConfig): PostgresSourcePlan {
  const slotDefault = `refinery_${project}_${name}`.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 63);
  return {
    kind: 'postgres',
    name,
    connection: { ...(s.connection ?? {}) },
    table: s.table.includes('.') ? s.table : `public.${s.table}`,
    columns: s.columns ?? [],
    key: asList(s.key),
    load: {
      ...databaseLoad(s.load),
      slot: s.load?.slot ?? slotDefault,
      publication: s.load?.publication ?? slotDefault,
      decodingMemory: s.load?.decodingMemory ?? '256MB',
    },
  };
}

function retryPolicy(retry: RetryConfig | undefined, fallback: RetryConfig | undefined): RetryPolicy {
  const r = retry ?? fallback;
  if (!r) return NO_RETRY;
  return {
    attempts: r.attempts ?? 1,
    delayMs: parseDuration(r.delay ?? '1s'),
    backoff: r.backoff ?? 'exponential',
    maxDelayMs: r.maxDelay === undefined ? 0 : parseDuration(r.maxDelay),
    jitter: r.jitter === true ? 0.2 : typeof r.jitter === 'number' ? r.jitter : 0,
  };
}

function stepSettings(options: StepOptions, config: ProjectConfig): Omit<StepPlan, 'name' | 'kind' | 'table' | 'dependsOn'> {
  const timeout = options.timeout ?? config.defaults?.timeout;
  return {
    retry: retryPolicy(options.retry, config.defaults?.retry),
    ...(timeout === undefined ? {} : { timeoutMs: parseDuration(timeout) }),
    ...(options.pool ? { pool: options.pool } : {}),
    trigger: options.trigger ?? 'all_success',
    tags: options.tags ?? [],
  };
}

function fingerprint(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/** Phase 2: resolve the validated project into a frozen plan (gold dependencies come from parsing its SQL). */
export async function planProject(project: LoadedProject, parser: SqlParser): Promise<Plan> {
  const { config, dir, file, text } = project;
  const ctx: IssueContext = { file, text, config };
  const sources: SourcePlan[] = Object.entries(config.sources ?? {}).map(([name, s]): SourcePlan => s.kind === 'postgres' ? postgresPlan(config.name, name, s) : s.kind === 'mysql' ? mysqlPlan(name, s) : s.kind === 'http' ? httpPlan(name, s) : ({
    kind: 'files',
    name,
    path: s.path,
    format: inferFormat(s) ?? 'csv',
    requiredColumns: s.columns ?? [],
    csv: {
      delimiter: s.csv?.delimiter ?? (extname(s.path).toLowerCase() === '.tsv' ? '\t' : ','),
      quote: s.csv?.quote ?? '"',
      escape: s.csv?.escape ?? s.csv?.quote ?? '"',
      encoding: s.csv?.encoding ?? 'utf-8',
    },
    ...(s.renamed && Object.keys(s.renamed).length > 0 ? { renamed: { ...s.renamed } } : {}),
    ...(s.publish ? { publish: publishPlan(dir, s.publish, [INGEST_DATE]) } : {}),
  }));
  const silver: SilverPlan[] = Object.entries(config.silver ?? {}).map(([name, t]) => silverPlan(dir, name, t));
  const issues: ErrorData[] = [];
  const known = new Set([...silver.map((s) => `silver.${s.name}`), ...Object.keys(config.gold ?? {}).map((g) => `gold.${g}`), ...integrationOutputs(config)]);
  const gold: GoldPlan[] = [];
  for (const [name, model] of Object.entries(config.gold ?? {})) {
    const parsed = await parser.referencedTables(model.sql);
    if ('error' in parsed) {
      issues.push(configIssue(ctx, ['gold', name, 'sql'], {
        code: 'config_sql_invalid',
        value: model.sql.trim().slice(0, 120),
        problem: `the SQL does not parse: ${parsed.error}`,
        allowed: 'one SELECT statement',
        hint: `Fix the SQL of gold.${name}; try it with \`refinery query "<sql>"\`.`,
      }));
      continue;
    }
    const reads: string[] = [];
    for (const table of parsed.tables) {
      const [schema, tableName] = table.includes('.') ? (table.split('.') as [string, string]) : ['', table];
      const qualified = `${schema}.${tableName}`;
      if (known.has(qualified) && qualified !== `gold.${name}`) reads.push(qualified);
      else {
        const allowed = [...known].filter((k) => k !== `gold.${name}`);
        issues.push(configIssue(ctx, ['gold', name, 'sql'], {
          code: 'config_unknown_table',
          value: table,
          problem:
            qualified === `gold.${name}`
              ? `gold.${name} reads itself`
              : schema === ''
                ? `'${table}' needs its layer: write silver.${table} or gold.${table}`
                : schema === 'bronze' || schema === 'quarantine'
                  ? `reads '${table}', but gold models read checked data: silver (or gold) tables, not raw ${schema} rows`
                  : `reads '${table}', which no step builds`,
          allowed: allowed.join(', '),
          hint: closest(qualified, allowed) ? `Did you mean '${closest(qualified, allowed)}'?` : 'Gold models read silver and other gold tables, named <layer>.<table>.',
        }));
      }
    }
    const partitionBy = partitionPlans(model.partitionBy);
    // The contract and the partitions decide how the table is refreshed: a change to them rebuilds it.
    const schemaOptions = { ...(model.contract ? { contract: model.contract } : {}), ...(partitionBy.length > 0 ? { partitionBy } : {}) };
    gold.push({
      name,
      sql: model.sql,
      ...(model.key ? { key: model.key } : {}),
      reads: reads.sort(),
      contract: contractPlan(model.contract),
      partitionBy,
      ...(model.publish ? { publish: publishPlan(dir, model.publish, partitionBy) } : {}),
      fingerprint: fingerprint({ sql: model.sql.trim(), key: model.key ?? null, ...schemaOptions }),
    });
  }
  if (issues.length > 0) throw configError(issues[0] as ErrorData, issues);
  // Silver tables log the key values keyed gold models downstream of them need (incremental gold).
  const silverWithKeys = silver.map((s) => ({
    ...s,
    downstreamKeys: [
      ...new Set([
        ...gold.filter((g) => g.key && g.reads.includes(`silver.${s.name}`) && s.columns.some((c) => c.name === g.key)).map((g) => g.key as string),
        // Silver tables whose `references` checks point here re-check only the referenced values that changed.
        ...silver.flatMap((other) => other.checks.flatMap((c) => (typeof c.rule === 'object' && 'references' in c.rule && c.rule.references.startsWith(`silver.${s.name}.`) ? [c.rule.references.split('.')[2] as string] : []))),
      ]),
    ].sort(),
  }));
  // Partitioned gold models recompute only the partitions whose rows changed: silver tables log those partitions too.
  const partitionKeys = await downstreamPartitions(ctx, parser, silverWithKeys, gold);
  silver.splice(0, silver.length, ...silverWithKeys.map((s) => ({ ...s, downstreamKeys: [...s.downstreamKeys, ...new Map((partitionKeys.get(s.name) ?? []).map((k) => [typeof k === 'string' ? k : k.name, k])).values()] })));
  const tasks: TaskPlan[] = Object.entries(config.tasks ?? {}).map(([name, t]) => ({ name, run: t.run }));
  const integrations: IntegrationPlan[] = Object.entries(config.integrate ?? {}).map(([name, i]) => integrationPlan(name, i));
  const steps = orderSteps(ctx, config, sources, silver, gold, tasks, integrations);
  const warehousePath = config.warehouse?.path ?? '.refinery/warehouse.duckdb';
  const plan: Plan = {
    name: config.name,
    projectDir: dir,
    configFile: file,
    warehouse: {
      engine: 'duckdb',
      path: warehousePath === ':memory:' ? warehousePath : resolve(dir, warehousePath),
      ...(config.warehouse?.threads ? { threads: config.warehouse.threads } : {}),
    },
    sources,
    silver,
    gold,
    integrations,
    tasks,
    steps,
    concurrency: config.concurrency ?? 4,
    pools: { ...(config.pools ?? {}) },
    schedules: Object.entries(config.schedules ?? {}).map(([name, sc]) => ({
      name,
      ...(sc.cron ? { cron: sc.cron } : {}),
      ...(sc.every === undefined ? {} : { everyMs: parseDuration(sc.every) }),
      timezone: sc.timezone ?? 'UTC',
      select: sc.select ?? [],
      overlap: sc.overlap ?? 'skip',
      catchUpMs: sc.catchUp === undefined ? 0 : parseDuration(sc.catchUp),
    })),
    triggers: {
      ...(config.triggers?.files
        ? { files: { select: typeof config.triggers.files === 'object' ? (config.triggers.files.select ?? []) : [], pollEveryMs: typeof config.triggers.files === 'object' && config.triggers.files.pollEvery !== undefined ? parseDuration(config.triggers.files.pollEvery) : 2000 } }
        : {}),
      afterPipelines: (config.triggers?.afterPipelines ?? []).map((p) => ({ project: resolve(dir, p.project), select: p.select ?? [] })),
      overlap: config.triggers?.overlap ?? 'queue',
    },
    alerts: {
      ...(config.alerts?.webhook ? { webhook: typeof config.alerts.webhook === 'string' ? { url: config.alerts.webhook } : config.alerts.webhook } : {}),
      ...(config.alerts?.command ? { command: config.alerts.command } : {}),
      freshness: Object.entries(config.alerts?.freshness ?? {}).map(([table, f]) => ({ table, by: f.by, timezone: f.timezone ?? 'UTC' })),
      quality: Object.entries(config.alerts?.quality ?? {}).map(([table, q]) => ({ table, maxQuarantinedPct: q.maxQuarantinedPct })),
    },
    serve: { host: config.serve?.host ?? '127.0.0.1', port: config.serve?.port ?? 7788, tokenEnv: config.serve?.tokenEnv ?? 'REFINERY_API_TOKEN' },
    openlineage: { ...(config.openlineage?.url ? { url: config.openlineage.url } : {}), ...(config.openlineage?.urlEnv ? { urlEnv: config.openlineage.urlEnv } : {}), namespace: config.openlineage?.namespace ?? config.name, columnMetrics: config.openlineage?.columnMetrics ?? false },
  };
  return deepFreeze(plan);
}

function silverPlan(projectDir: string, name: string, t: SilverTableConfig): SilverPlan {
  const columns: ColumnPlan[] = Object.entries(t.columns).map(([columnName, c]) => ({
    name: columnName,
    from: c.from ?? columnName,
    ...(c.sql ? { sql: c.sql } : {}),
    clean: c.clean ?? [],
    type: c.type ?? 'text',
    formats: c.formats ?? [],
    keepEmpty: c.keepEmpty ?? false,
  }));
  const checks: CheckPlan[] = (t.checks ?? []).map((c) => ({ name: c.name, ...(c.column ? { column: c.column } : {}), rule: c.rule, action: c.action ?? 'quarantine' }));
  const key = asList(t.key);
  const reads = [...new Set(checks.flatMap((c) => (typeof c.rule === 'object' && 'references' in c.rule ? [`silver.${c.rule.references.split('.')[1]}`] : [])))].sort();
  const body = { source: t.from ?? name, columns, checks, key, latest: asList(t.latest), materialize: t.materialize ?? (key.length > 0 ? 'merge' : 'replace'), deletes: t.deletes ?? 'remove' } as const;
  const references = checks.flatMap((c) => {
    if (typeof c.rule !== 'object' || !('references' in c.rule) || !c.column) return [];
    const [, target, targetColumn] = c.rule.references.split('.') as [string, string, string];
    return [{ column: c.column, table: `silver.${target}`, targetColumn }];
  });
  const partitionBy = partitionPlans(t.partitionBy);
  const schema = { contract: contractPlan(t.contract), partitionBy, ...(t.publish ? { publish: publishPlan(projectDir, t.publish, partitionBy) } : {}) };
  // A declared contract decides what silver holds, so it is part of the fingerprint (left out when not declared,
  // so tables built before contracts existed are not rebuilt for nothing).
  return { name, ...body, ...schema, reads, references, downstreamKeys: [], fingerprint: fingerprint({ v: SILVER_RULES_VERSION, ...body, ...(t.contract ? { contract: t.contract } : {}) }) };
}

function orderSteps(ctx: IssueContext, config: ProjectConfig, sources: SourcePlan[], silver: SilverPlan[], gold: GoldPlan[], tasks: TaskPlan[], integrations: IntegrationPlan[]): StepPlan[] {
  const steps = new Map<string, StepPlan>();
  // An integration writes several gold tables in one step: reading any of them depends on that step.
  const producers = new Map(integrations.flatMap((i) => outputTables(i).map((t) => [t, `integrate.${i.name}`] as const)));
  const add = (name: string, kind: StepPlan['kind'], table: string, reads: readonly string[], options: StepOptions): void => {
    steps.set(name, { name, kind, table, dependsOn: [...new Set([...reads.map((r) => producers.get(r) ?? r), ...(options.after ?? [])])], ...stepSettings(options, config) });
  };
  for (const s of sources) add(`bronze.${s.name}`, 'bronze', s.name, [], config.sources?.[s.name] ?? {});
  for (const s of silver) add(`silver.${s.name}`, 'silver', s.name, [`bronze.${s.source}`, ...s.reads], config.silver?.[s.name] ?? { columns: {} });
  for (const g of gold) add(`gold.${g.name}`, 'gold', g.name, g.reads, config.gold?.[g.name] ?? { sql: '' });
  for (const i of integrations) add(`integrate.${i.name}`, 'integrate', i.name, i.reads, config.integrate?.[i.name] ?? {});
  for (const t of tasks) add(t.name, 'task', t.name, [], config.tasks?.[t.name] ?? { run: () => undefined });
  const ordered: StepPlan[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      const step = steps.get(name) as StepPlan;
      const at: KeyPath = step.kind === 'task' ? ['tasks', name] : step.kind === 'integrate' ? ['integrate', step.table] : step.kind === 'gold' ? ['gold', step.table, 'sql'] : [step.kind === 'bronze' ? 'sources' : step.kind, step.table];
      throw configError(configIssue(ctx, at, {
        code: 'config_cycle',
        value: cycle.join(' → '),
        problem: `these steps depend on each other in a cycle: ${cycle.join(' → ')}`,
        hint: 'A table cannot (indirectly) read itself: break the cycle by removing one of these reads.',
      }));
    }
    state.set(name, 'visiting');
    const step = steps.get(name) as StepPlan;
    for (const dep of step.dependsOn) visit(dep, [...trail, name]);
    state.set(name, 'done');
    ordered.push(step);
  };
  // Layer order first, then declaration order: bronze before silver before gold whenever dependencies allow it.
  for (const name of steps.keys()) visit(name, []);
  return ordered;
}
