/**
 * The shape of `refinery.config.ts`. These types are what a project file sees in the editor through
 * `defineProject`; `load-project.ts` validates the same shape at run time and turns it into a frozen plan.
 */
import type { LogicalType, QueryResult, SqlParam } from '../warehouse/warehouse.js';

export type { LogicalType };

/** '500ms', '30s', '15m', '2h', '1d', or milliseconds. */
export type Duration = string | number;

export interface RetryConfig {
  /** Total attempts, the first included. Default 1 (no retry). */
  attempts?: number;
  /** Wait before the second attempt. Default '1s'. */
  delay?: Duration;
  /** How the wait grows: fixed, linear (delay × n) or exponential (delay × 2^(n-1)). Default 'exponential'. */
  backoff?: 'fixed' | 'linear' | 'exponential';
  /** Upper bound on any wait. */
  maxDelay?: Duration;
  /** Randomise each wait by up to this fraction (true = 0.2). Default off. */
  jitter?: boolean | number;
}

export type TriggerRule = 'all_success' | 'all_done' | 'none_failed' | 'one_failed';

/** How a step is scheduled: options shared by sources, silver and gold tables, and tasks. */
export interface StepOptions {
  /** Steps that must finish first, besides the tables this step reads (e.g. `['silver.customers', 'fetch-rates']`). */
  after?: string[];
  retry?: RetryConfig;
  /** Abort an attempt that runs longer than this. */
  timeout?: Duration;
  /** Named pool whose slots this step takes (see `pools`). */
  pool?: string;
  /** When to run, given how upstream steps ended. Default 'all_success'. */
  trigger?: TriggerRule;
  /** Labels for `--select tag:<name>`. */
  tags?: string[];
}

export interface TaskLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** What a task's `run` receives. */
export interface TaskContext {
  /** The step's name (the key under `tasks`). */
  readonly step: string;
  readonly runId: number;
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt: number;
  /** Aborted on timeout or cancellation: pass it to fetch() and long waits. */
  readonly signal: AbortSignal;
  readonly logger: TaskLogger;
  /** The project's warehouse. */
  readonly warehouse: {
    query(sql: string, params?: readonly SqlParam[]): Promise<QueryResult>;
    execute(sql: string, params?: readonly SqlParam[]): Promise<number>;
  };
  /** Current time from the run's clock. */
  now(): Date;
}

export interface TaskConfig extends StepOptions {
  /** The work. Throw to fail the attempt; throw an error with `fatal: true` (e.g. `new FatalError(...)`) to stop retries. */
  run: (ctx: TaskContext) => unknown;
  description?: string;
}

export interface WarehouseConfig {
  /** Only `duckdb` today; PostgreSQL is planned. */
  engine?: 'duckdb';
  /** Database file, relative to the project directory. Default `.refinery/warehouse.duckdb`. */
  path?: string;
  /** Worker threads DuckDB may use. Default: all cores. */
  threads?: number;
}

export interface CsvConfig {
  /** Field separator. Default `,`. */
  delimiter?: string;
  /** Quote character. Default `"`. */
  quote?: string;
  /** Escape character inside quoted fields. Default: the quote character (RFC 4180 `""`). */
  escape?: string;
  /** Default `utf-8`. A UTF-8 byte-order mark is skipped. */
  encoding?: 'utf-8' | 'latin-1';
}

export interface FileSourceConfig extends StepOptions {
  /** Landing files (the default kind). */
  kind?: 'files';
  /** Landing files to ingest: a path or glob relative to the project directory, e.g. `landing/customers/*.csv`. */
  path: string;
  /** Default: taken from the file extension (`.csv`, `.jsonl`/`.ndjson`, `.json`, `.parquet`). */
  format?: 'csv' | 'jsonl' | 'json' | 'parquet';
  /** Columns every file must have. A file missing one is refused (not ingested) with a message naming it. */
  columns?: string[];
  csv?: CsvConfig;
  /**
   * Columns renamed at the source: old name → name in bronze, e.g. `{ cust_name: 'name' }`. A file with the old
   * name lands under the new one (a file with both is refused). Never guessed: only what is declared here.
   */
  renamed?: Record<string, string>;
  /** Export bronze as Parquet partitioned by ingestion date (`_ingest_date=YYYY-MM-DD/`) after each run. */
  publish?: PublishConfig;
  description?: string;
}

/**
 * Where a database lives. Secrets never go in the project file: give the whole URL in an environment variable
 * (`urlEnv`), or the parts here with the password in one (`passwordEnv`). Unset parts fall back to PG* variables (PostgreSQL) or to 127.0.0.1:3306 as root (MySQL).
 */
export interface DatabaseConnectionConfig {
  /** Environment variable holding a connection URL, e.g. CRM_DATABASE_URL=postgres://user:pass@host:5432/db. */
  urlEnv?: string;
  /** A URL without a password, e.g. 'postgres://etl@127.0.0.1:5432/crm'. */
  url?: string;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  passwordEnv?: string;
}

/** How a database source decides what is new. */
export interface LoadConfig {
  /**
   * full: everything, every run (downstream rebuilt from it); cursor: rows whose cursor column is ≥ the stored
   * watermark; snapshot: everything, compared with the last extract by key to find inserts, updates and deletes;
   * cdc: PostgreSQL logical replication (initial snapshot, then changes from a replication slot).
   */
  strategy: 'full' | 'cursor' | 'snapshot' | 'cdc';
  /** cursor: the column that grows with every change, e.g. 'updated_at' or an increasing id. */
  cursor?: string;
  /** cursor: re-read this far behind the watermark, for rows committed late. */
  lag?: Duration;
  /** cursor: where to start on the first run (default: the beginning). Must match the column: with or without a time zone. */
  since?: string;
  /** cdc: replication slot name. Default 'refinery_<project>_<source>'. */
  slot?: string;
  /** cdc: publication name. Default 'refinery_<project>_<source>'. */
  publication?: string;
  /**
   * cdc: how much memory the server may use to decode one read of the slot before it spills to disk
   * (PostgreSQL's logical_decoding_work_mem, set for Refinery's own session only), e.g. '256MB'. Default '256MB':
   * a million-row transaction decodes in memory, about twice as fast as PostgreSQL's default of 64MB.
   */
  decodingMemory?: string;
}

export interface PostgresSourceConfig extends StepOptions {
  kind: 'postgres';
  connection?: DatabaseConnectionConfig;
  /** The table to extract, e.g. 'public.customers'. */
  table: string;
  /** Columns to extract. Default: all. */
  columns?: string[];
  /** Column(s) identifying a row: needed by snapshot and cdc, and to drop re-read rows with cursor. */
  key?: string | string[];
  load?: LoadConfig;
  description?: string;
}

/** A MySQL or MariaDB table. Connection settings as for PostgreSQL (`mysql://` URLs; defaults 127.0.0.1:3306, root). */
export interface MysqlSourceConfig extends StepOptions {
  kind: 'mysql';
  connection?: DatabaseConnectionConfig;
  /** The table to extract: 'customers' (in the connection's database) or 'billing.customers'. */
  table: string;
  /** Columns to extract. Default: all. */
  columns?: string[];
  /** Column(s) identifying a row: needed by snapshot, and to drop re-read rows with cursor. */
  key?: string | string[];
  /** full, cursor or snapshot (see LoadConfig); no cdc for MySQL. */
  load?: Omit<LoadConfig, 'strategy' | 'slot' | 'publication' | 'decodingMemory'> & { strategy: 'full' | 'cursor' | 'snapshot' };
  description?: string;
}

/** How an HTTP API is paged through. Every request of a run carries the source's `params` as well. */
export type HttpPaginationConfig =
  /** One request. */
  | { type: 'none' }
  /** `?page=1&per_page=100`, then page 2, ... until a page has no records. */
  | { type: 'page'; param?: string; sizeParam?: string; size?: number; start?: number; maxPages?: number }
  /** `?offset=0&limit=100`, then offset 100 (the records received so far), ... until a page has no records. */
  | { type: 'offset'; param?: string; limitParam?: string; limit?: number; maxPages?: number }
  /** The next cursor is read from each response at `field` (a dotted path, e.g. 'meta.next_cursor') and sent as `param`; stops when it is empty. */
  | { type: 'cursor'; field: string; param?: string; maxPages?: number }
  /** Follows the `Link: <...>; rel="next"` header (RFC 8288) until there is none; it must stay on the same origin. */
  | { type: 'link'; maxPages?: number };

/** A JSON API read page by page into bronze. */
export interface HttpSourceConfig extends StepOptions {
  kind: 'http';
  /** The first page's URL, e.g. 'https://api.example.com/v1/customers'. Never put a secret in it. */
  url: string;
  /** Query parameters sent with every request. */
  params?: Record<string, string | number | boolean>;
  /** Dotted path to the array of records in each response, e.g. 'data.items'. Default: the response is the array. */
  records?: string;
  /** Default `{ type: 'none' }`. */
  pagination?: HttpPaginationConfig;
  /** A header carrying a secret from the environment, e.g. `{ valueEnv: 'SUPPORT_API_TOKEN', prefix: 'Bearer ' }`. */
  auth?: { header?: string; valueEnv: string; prefix?: string };
  /** At most this many requests per second (waits go through the run's clock). */
  rateLimit?: { perSecond: number };
  /**
   * Per request: abort after `timeout` (default '30s'); on 429, 5xx, a timeout or a dropped connection, try again up
   * to `attempts` times in all (default 5), waiting `delay` (default '1s') doubled each time up to `maxDelay` (default
   * '30s'), or as long as a Retry-After header says. Any other 4xx fails at once.
   */
  request?: { timeout?: Duration; attempts?: number; delay?: Duration; maxDelay?: Duration };
  /**
   * full (default): every record, every run (replacing the previous extract downstream). cursor: send the stored
   * watermark as query parameter `param` (e.g. 'updated_since') and keep the greatest value of record field
   * `field` (e.g. 'updated_at') as the next watermark; `since` is sent on the first run.
   */
  load?: { strategy: 'full' | 'cursor'; param?: string; field?: string; since?: string };
  description?: string;
}

export type SourceConfig = FileSourceConfig | PostgresSourceConfig | MysqlSourceConfig | HttpSourceConfig;

/** Built-in cleaning rules, applied in order to a column's text before it is typed. */
export type CleanRule =
  | 'trim'
  | 'lower'
  | 'upper'
  | 'collapse_spaces'
  | 'title_case'
  | 'digits_only'
  | 'phone'
  | { replace: { pattern: string; with: string } }
  | { sql: string };

export interface ColumnConfig {
  /** Raw (bronze) column to start from. Default: the column of the same name. */
  from?: string;
  /** An SQL expression over the raw columns to start from instead of `from`. */
  sql?: string;
  /** Cleaning rules applied in order. */
  clean?: CleanRule[];
  /** Type to convert the cleaned text to. Default `text`. A value that does not convert becomes NULL. */
  type?: LogicalType;
  /** For `date` and `timestamp`: accepted formats, tried in order, e.g. `['YYYY-MM-DD', 'DD/MM/YYYY']`. */
  formats?: string[];
  /** Keep empty text as '' instead of NULL. Default false: silver has no blank strings. */
  keepEmpty?: boolean;
  description?: string;
}

/** What a check asserts about a row; a row that does not satisfy it fails the check. */
export type CheckRule =
  | 'not_null'
  | 'parses'
  | { matches: string }
  | { in: (string | number)[] }
  | { min?: number; max?: number }
  | { references: string }
  | { sql: string };

export type CheckAction = 'warn' | 'quarantine' | 'fail';

export interface CheckConfig {
  /** Names the check; it is the quarantine `_reason` and the warning's name. */
  name: string;
  /** The silver column the rule applies to (not needed for `{ sql }`). */
  column?: string;
  rule: CheckRule;
  /** `warn` keeps the row and counts it; `quarantine` (default) moves it to `quarantine.<table>`; `fail` stops the run. */
  action?: CheckAction;
  description?: string;
}

export interface SilverTableConfig extends StepOptions {
  /** The source (bronze table) this table is built from. Default: the source of the same name. */
  from?: string;
  columns: Record<string, ColumnConfig>;
  /** Checks in order; the first failing quarantine/fail check gives a row's reason. */
  checks?: CheckConfig[];
  /** Column(s) identifying a row: one row per key survives (latest wins). */
  key?: string | string[];
  /** Column(s) deciding which version of a key is latest: the greatest wins; ties go to the row that arrived last. */
  latest?: string | string[];
  /**
   * `merge` (default when a key is set) upserts new batches by key; `replace` rebuilds from all of bronze;
   * `scd2` keeps every version of a key with valid_from, valid_to and is_current; a delete closes the current
   * version, a later re-insert opens a new one. It keeps only the history of the batches that still count: from a
   * `full` source (each extract replaces the last) or a file overwritten in place it keeps no history — use a
   * `snapshot`, `cursor` or `cdc` source, or a new file per delivery.
   */
  materialize?: 'merge' | 'replace' | 'scd2';
  /** What a delete from a database source does: 'remove' the row (default) or 'soft' — keep it with `_deleted = true`. */
  deletes?: 'remove' | 'soft';
  /** What happens when bronze brings new columns, lacks columns or changes a type. Default 'evolve' for all three. */
  contract?: SchemaContract;
  /** How the table is partitioned when published (see `publish`). */
  partitionBy?: PartitionBy;
  /** Export the table as Hive-partitioned Parquet after each run, rewriting only the partitions whose rows changed. */
  publish?: PublishConfig;
  description?: string;
}

/**
 * What a table does when its input's schema changes:
 * - `evolve`: follow it — add the new column (in silver, a new bronze column passes through as it is: text from CSV
 *   and JSON, its own type from Parquet), keep a missing one as NULL, widen a type (integer → bigint → double,
 *   date → timestamp);
 * - `freeze`: fail the run before anything is written, naming the table, column, file and types;
 * - `discard_row`: set the rows concerned aside in quarantine with reason `schema_violation`;
 * - `discard_value`: keep the rows, with NULL for the values concerned, and count them.
 * A narrowing is never silent: values that would not fit are never cast down without a word.
 */
export type ContractMode = 'evolve' | 'freeze' | 'discard_row' | 'discard_value';

/** One mode for everything, or one per kind of change. Every kind defaults to 'evolve'. */
export type SchemaContract = ContractMode | { newColumns?: ContractMode; missingColumns?: ContractMode; typeChanges?: ContractMode };

/**
 * A column (`'country'`), several (`['country', 'status']`), or named SQL expressions over the table's columns
 * (`{ order_month: "date_trunc('month', order_date)" }`; `{ country: 'country' }` is the column itself), each becoming
 * a `name=value` directory level.
 */
export type PartitionBy = string | string[] | Record<string, string>;

export interface PublishConfig {
  format: 'parquet';
  /** Directory to publish into, relative to the project directory (e.g. 'lake/gold/sales'). Refinery owns it. */
  path: string;
  /** Default: the table's `partitionBy` (for a source: `_ingest_date`). */
  partitionBy?: PartitionBy;
}

export interface GoldModelConfig extends StepOptions {
  /** One SELECT over silver (or other gold) tables; its dependencies are read from it. */
  sql: string;
  /**
   * A column of the model that identifies its rows (e.g. 'customer_id'). Then a run recomputes only the rows
   * whose key changed upstream — each table the model reads must have a column of that name.
   */
  key?: string;
  /** What happens when the model's output columns change because a table it reads changed. Default 'evolve'. */
  contract?: SchemaContract;
  /**
   * Partitions of the model. An incremental run then recomputes only the partitions its inputs touched
   * (insert_overwrite): the partition must be computable from columns the model outputs under the same names as
   * in the silver tables it reads, e.g. `{ order_month: "date_trunc('month', order_date)" }`.
   */
  partitionBy?: PartitionBy;
  /** Export the table as Hive-partitioned Parquet after each run, rewriting only the partitions whose rows changed. */
  publish?: PublishConfig;
  description?: string;
}

export interface ScheduleConfig {
  /** Cron with optional seconds: 'sec min hour day month weekday' or the usual 5 fields, e.g. '0 0 7 * * *'. */
  cron?: string;
  /** Or a fixed interval, e.g. '15m'. */
  every?: Duration;
  /** IANA zone for cron, e.g. 'Europe/London'. Default UTC. */
  timezone?: string;
  /** Steps to run (`--select` syntax). Default: everything. */
  select?: string[];
  /** When the previous run is still going: 'skip' this one (default) or 'queue' one run after it. */
  overlap?: 'skip' | 'queue';
  /** Catch up a fire time missed while the service was down, if it is no older than this (e.g. '6h'). Off by default. */
  catchUp?: Duration;
}

export interface TriggersConfig {
  /** Run when a new or changed file appears in a landing zone. */
  files?: boolean | { select?: string[]; pollEvery?: Duration };
  /** Run after another project's successful run (path to that project). */
  afterPipelines?: { project: string; select?: string[] }[];
  /** Overlap policy for triggered runs. Default 'queue'. */
  overlap?: 'skip' | 'queue';
}

export interface AlertsConfig {
  /** POST a JSON body (Slack-compatible `text` field included) to this URL, or to the URL in this environment variable. */
  webhook?: string | { url?: string; urlEnv?: string };
  /** Run this shell command with the alert as JSON on stdin and in $REFINERY_ALERT_JSON; $REFINERY_ALERT_TEXT holds the text. */
  command?: string;
  /** Tables that must have been refreshed by a time of day, e.g. `{ 'gold.customer_360': { by: '07:00', timezone: 'Europe/London' } }`. */
  freshness?: Record<string, { by: string; timezone?: string }>;
  /** Alert when a run quarantines more than this share of a silver table's incoming rows, e.g. `{ 'silver.customers': { maxQuarantinedPct: 5 } }`. */
  quality?: Record<string, { maxQuarantinedPct: number }>;
}

/**
 * OpenLineage events: every run writes them to `.refinery/lineage/<runId>.jsonl`; set a URL (or the name of an
 * environment variable holding one) to also POST each event to a lineage server, e.g. Marquez's `/api/v1/lineage`.
 */
export interface OpenLineageConfig {
  url?: string;
  urlEnv?: string;
  /** Namespace of the jobs (one per step, under one per run). Default: the project name. */
  namespace?: string;
  /**
   * Also count NULLs per column of every output table for the dataQualityMetrics facet. Off by default: it scans
   * whole tables on every run (seconds on millions of rows); row counts and the run's accounting are always there.
   */
  columnMetrics?: boolean;
}

export interface ServeConfig {
  /** Interface the HTTP API listens on. Default 127.0.0.1. Anything else requires a bearer token. */
  host?: string;
  /** Default 7788. */
  port?: number;
  /** Environment variable holding the API's bearer token. Default REFINERY_API_TOKEN. */
  tokenEnv?: string;
}

/** How a canonical field's values are compared: for agreement (confidence) and for fuzzy matching. */
export type FieldKind = 'text' | 'name' | 'email';

/** One candidate value for one field of one entity, as a custom survivorship function sees it. */
export interface SurvivorCandidate {
  readonly source: string;
  /** The value after the source's value map and the field's cleaning rules. */
  readonly value: string;
  /** The value as the source holds it, when the mapping changed it. */
  readonly raw: string | null;
  /** The source's business timestamp for this record (ISO), not when Refinery ingested it. */
  readonly updatedAt: string | null;
  /** 0 for the source that comes first in priority order. */
  readonly priority: number;
  /** The source's trust after decay by the record's age (1 when no trust is configured). */
  readonly trust: number;
}

/**
 * A custom survivorship rule: gets the candidates of one entity still tied after the rules before it and returns the
 * winner (a candidate or its source name), or undefined to leave the decision to the next rule. It is the slow path:
 * every other rule runs set-based in the engine, this one calls JavaScript once per undecided entity.
 */
export type CustomSurvivor = (
  candidates: readonly SurvivorCandidate[],
  context: { readonly entity: string; readonly id: string; readonly field: string },
) => SurvivorCandidate | string | null | undefined;

export type SurvivorshipRuleName = 'priority' | 'most_recent' | 'most_frequent' | 'longest' | 'max' | 'min' | 'first_non_null' | 'most_trusted';

/** A survivorship rule: it keeps the best of the candidates still tied; the chain stops once one value remains. */
export type SurvivorshipRule =
  | SurvivorshipRuleName
  /** That source's value, when it has one. */
  | { source: string }
  /** Sources in this order (for this field only). */
  | { priority: string[] }
  /** A named rule considering only some sources' candidates best (the others rank last). */
  | { rule: SurvivorshipRuleName; sources?: string[] }
  | { custom: CustomSurvivor; name?: string };

/** What a valid value looks like, for the source scorecard's validity. */
export type ValidityRule = { matches: string } | { in: (string | number)[] } | { min?: number; max?: number };

export interface IntegrationFieldConfig {
  /** How values are compared: `name` accepts abbreviations ("J. Smith" ~ "John Smith"). Default `text`. */
  kind?: FieldKind;
  /** Type of the column in the golden table. Default `text`. */
  type?: LogicalType;
  /** Cleaning rules applied to every source's value, after its value map. */
  clean?: CleanRule[];
  /** Survivorship rules in order, ending (implicitly) in the source-priority tie-break. Default `['priority']`. */
  rules?: SurvivorshipRule[];
  /** The golden value when no source has one. */
  default?: string | number | boolean;
  /** For the scorecard's validity: values that break it count as invalid (they still take part in survivorship). */
  valid?: ValidityRule;
  description?: string;
}

export interface IntegrationSourceConfig {
  /** The table holding this source's records, e.g. `silver.crm`. */
  table: string;
  /** The column identifying a record in that table, e.g. `cust_id`. */
  key: string;
  /** The source's own business timestamp column (when the record last changed in that system). */
  updatedAt?: string;
  /** Canonical field → this source's column (or `{ sql }` over its columns). */
  fields: Record<string, string | { column?: string; sql?: string }>;
  /** Per canonical field, this source's vocabulary → canonical values, e.g. `{ status: { ACTIVE: 'active', A: 'active' } }`. */
  values?: Record<string, Record<string, string>>;
  /** Lower comes first in the `priority` rule and the final tie-break. Default: declaration order. */
  priority?: number;
  /** How the source is named in explanations, e.g. 'CRM'. Default: its key. */
  label?: string;
  /** How much this source is trusted, 0..1. Default 1. */
  trust?: number;
  /** Trust halves for every this much age of a record's business timestamp, e.g. '365d'. Default: no decay. */
  trustHalfLife?: Duration;
}

/** Comparison levels for one field in fuzzy matching: the first level that holds gives its weight. */
export interface FieldComparison {
  levels: ({ exact: true; weight: number } | { initials: true; weight: number } | { jaroWinkler: number; weight: number } | { levenshtein: number; weight: number })[];
  /** Weight when no level holds. Default 0. A missing value on either side always weighs 0. */
  else?: number;
}

export interface FuzzyMatchConfig {
  /**
   * Which pairs are compared at all: a pair must agree on every key of at least one blocking rule. A key is a field
   * (`'email'`), a field and a transform (`'name:last_word'`, `'name:first_word'`, `'name:initial'`, `'name:prefix3'`),
   * or `{ sql }` over the canonical fields.
   */
  blocking: (string | { sql: string } | (string | { sql: string })[])[];
  /** Field → comparison levels, or a preset: 'name', 'email', 'exact'. */
  compare: Record<string, 'name' | 'email' | 'exact' | FieldComparison>;
  /** Pairs whose summed weight reaches this are linked. */
  threshold: number;
}

export interface MatchConfig {
  /**
   * Deterministic rules, in order: `'key'` (the same source key in every system) and field names whose normalised
   * values must be equal (`'email'`, or `['name', 'birth_date']` for several at once). Default `['key']`.
   */
  rules?: (string | string[])[];
  fuzzy?: FuzzyMatchConfig;
  /** Pairs of records that are the same entity, as 'source:key'. The second record moves to the first one's entity. */
  mustLink?: [string, string][];
  /** Pairs of records that are never the same entity. The second record leaves the first one's entity. */
  cannotLink?: [string, string][];
}

export interface IntegrationConfig extends StepOptions {
  /** What one golden record is, in the singular (e.g. `customer`): `refinery explain customer 1001`. */
  entity: string;
  /** Name of the master id column in the golden tables, e.g. `customer_id`. */
  key: string;
  sources: Record<string, IntegrationSourceConfig>;
  match?: MatchConfig;
  fields: Record<string, IntegrationFieldConfig>;
  /** `trust_weighted` weighs each source's vote by its (decayed) trust. Default `equal`. */
  confidence?: 'equal' | 'trust_weighted';
  /** Names of the gold tables. Defaults: `<name>`, `<name>_provenance`, `<name>_xref`, `<name>_source_quality`. */
  tables?: { master?: string; provenance?: string; xref?: string; sourceQuality?: string };
  description?: string;
}

export interface ProjectConfig {
  /** Project name, shown in run records. */
  name: string;
  warehouse?: WarehouseConfig;
  sources?: Record<string, SourceConfig>;
  silver?: Record<string, SilverTableConfig>;
  gold?: Record<string, GoldModelConfig>;
  /** Multi-source integration: golden records matched and merged from several silver tables. */
  integrate?: Record<string, IntegrationConfig>;
  /** Custom steps: TypeScript functions that run in the graph like any table. */
  tasks?: Record<string, TaskConfig>;
  /** How many steps may run at once. Default 4. */
  concurrency?: number;
  /** Named pools and their slots, e.g. `{ 'crm-db': 2 }`. */
  pools?: Record<string, number>;
  /** Retry and timeout defaults for every step that does not set its own. */
  defaults?: Pick<StepOptions, 'retry' | 'timeout'>;
  /** When `refinery serve` runs the project. */
  schedules?: Record<string, ScheduleConfig>;
  /** Events that make `refinery serve` run the project. */
  triggers?: TriggersConfig;
  alerts?: AlertsConfig;
  serve?: ServeConfig;
  openlineage?: OpenLineageConfig;
}
