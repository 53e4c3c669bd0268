import type { RetryPolicy } from '../orchestrator/retry-policy.js';
import type { CheckAction, CheckRule, CleanRule, TaskContext, TriggerRule } from './types.js';
import type { CsvOptions, FileFormat, LogicalType } from '../warehouse/warehouse.js';
import type { IntegrationPlan } from '../integrate/integration-plan.js';

/**
 * A validated project, resolved and frozen: absolute paths, defaults filled in, dependencies known,
 * steps in the order they run. Nothing downstream of loading reads the raw project file again, and nothing
 * can change a plan once made (see `deepFreeze`), so a retried step always sees what the first attempt saw.
 */
export interface Plan {
  readonly name: string;
  readonly projectDir: string;
  readonly configFile: string;
  readonly warehouse: WarehousePlan;
  readonly sources: readonly SourcePlan[];
  readonly silver: readonly SilverPlan[];
  readonly gold: readonly GoldPlan[];
  /** Multi-source integrations (golden records), see src/integrate/. */
  readonly integrations: readonly IntegrationPlan[];
  readonly tasks: readonly TaskPlan[];
  /** Every step in an order where each comes after everything it depends on. */
  readonly steps: readonly StepPlan[];
  /** How many steps may run at once. */
  readonly concurrency: number;
  readonly pools: Readonly<Record<string, number>>;
  readonly schedules: readonly SchedulePlan[];
  readonly triggers: TriggersPlan;
  readonly alerts: AlertsPlan;
  readonly serve: { readonly host: string; readonly port: number; readonly tokenEnv: string };
  /** Where OpenLineage events go besides `.refinery/lineage/` (see `OpenLineageConfig`). */
  readonly openlineage: { readonly url?: string; readonly urlEnv?: string; readonly namespace: string; readonly columnMetrics: boolean };
}

export interface SchedulePlan {
  readonly name: string;
  readonly cron?: string;
  readonly everyMs?: number;
  readonly timezone: string;
  readonly select: readonly string[];
  readonly overlap: 'skip' | 'queue';
  /** Missed fire times younger than this are caught up on start; 0 = off. */
  readonly catchUpMs: number;
}

export interface TriggersPlan {
  readonly files?: { readonly select: readonly string[]; readonly pollEveryMs: number };
  readonly afterPipelines: readonly { readonly project: string; readonly select: readonly string[] }[];
  readonly overlap: 'skip' | 'queue';
}

export interface AlertsPlan {
  readonly webhook?: { readonly url?: string; readonly urlEnv?: string };
  readonly command?: string;
  readonly freshness: readonly { readonly table: string; readonly by: string; readonly timezone: string }[];
  readonly quality: readonly { readonly table: string; readonly maxQuarantinedPct: number }[];
}

export interface TaskPlan {
  readonly name: string;
  readonly run: (ctx: TaskContext) => unknown;
}

export interface WarehousePlan {
  readonly engine: 'duckdb';
  /** Absolute path of the database file. */
  readonly path: string;
  readonly threads?: number;
}

export type SourcePlan = FileSourcePlan | PostgresSourcePlan | MysqlSourcePlan | HttpSourcePlan;

/** Sources read with the database load strategies (src/incremental/database-ingest.ts). */
export type DatabaseSourcePlan = PostgresSourcePlan | MysqlSourcePlan;

export interface MysqlSourcePlan {
  readonly kind: 'mysql';
  readonly name: string;
  /** How to connect; secrets stay in the environment variables named here. */
  readonly connection: PostgresSourcePlan['connection'];
  /** The table as written: 'customers' (in the connection's database) or 'db.customers'. */
  readonly table: string;
  /** Columns to extract; empty = all. */
  readonly columns: readonly string[];
  readonly key: readonly string[];
  readonly load: {
    readonly strategy: 'full' | 'cursor' | 'snapshot';
    readonly cursor?: string;
    readonly lagMs: number;
    readonly since?: string;
  };
}

export type HttpPaginationPlan =
  | { readonly type: 'none' }
  | { readonly type: 'page'; readonly param: string; readonly sizeParam: string; readonly size: number; readonly start: number; readonly maxPages?: number }
  | { readonly type: 'offset'; readonly param: string; readonly limitParam: string; readonly limit: number; readonly maxPages?: number }
  | { readonly type: 'cursor'; readonly field: readonly string[]; readonly param: string; readonly maxPages?: number }
  | { readonly type: 'link'; readonly maxPages?: number };

export interface HttpSourcePlan {
  readonly kind: 'http';
  readonly name: string;
  readonly url: string;
  readonly params: Readonly<Record<string, string>>;
  /** Path to the records array in each response; empty = the response is the array. */
  readonly records: readonly string[];
  readonly pagination: HttpPaginationPlan;
  /** The secret stays in the environment variable named here. */
  readonly auth?: { readonly header: string; readonly valueEnv: string; readonly prefix: string };
  readonly rateLimit?: { readonly perSecond: number };
  readonly request: { readonly timeoutMs: number; readonly attempts: number; readonly delayMs: number; readonly maxDelayMs: number };
  readonly load: { readonly strategy: 'full' | 'cursor'; readonly param?: string; readonly field?: string; readonly since?: string };
}

export interface PostgresSourcePlan {
  readonly kind: 'postgres';
  readonly name: string;
  /** How to connect; secrets stay in the environment variables named here. */
  readonly connection: { readonly urlEnv?: string; readonly url?: string; readonly host?: string; readonly port?: number; readonly database?: string; readonly user?: string; readonly passwordEnv?: string };
  /** Schema-qualified table. */
  readonly table: string;
  /** Columns to extract; empty = all. */
  readonly columns: readonly string[];
  readonly key: readonly string[];
  readonly load: {
    readonly strategy: 'full' | 'cursor' | 'snapshot' | 'cdc';
    readonly cursor?: string;
    readonly lagMs: number;
    readonly since?: string;
    readonly slot: string;
    readonly publication: string;
    /** cdc: logical_decoding_work_mem for the session that reads the slot. */
    readonly decodingMemory: string;
  };
}

export interface FileSourcePlan {
  readonly kind: 'files';
  readonly name: string;
  /** Glob relative to the project directory (as written), for messages. */
  readonly path: string;
  readonly format: FileFormat;
  readonly requiredColumns: readonly string[];
  readonly csv: CsvOptions;
  /** Old column name → name in bronze (declared renames; never guessed). */
  readonly renamed?: Readonly<Record<string, string>>;
  /** Bronze exported as Parquet by ingestion date. */
  readonly publish?: PublishPlan;
}

export interface ColumnPlan {
  readonly name: string;
  readonly from: string;
  readonly sql?: string;
  readonly clean: readonly CleanRule[];
  readonly type: LogicalType;
  readonly formats: readonly string[];
  readonly keepEmpty: boolean;
  /** Not declared: a new bronze column passed through by the table's schema contract (see silver-contract.ts). */
  readonly passthrough?: boolean;
}

export interface CheckPlan {
  readonly name: string;
  readonly column?: string;
  readonly rule: CheckRule;
  readonly action: CheckAction;
}

export interface SilverPlan {
  readonly name: string;
  /** The source whose bronze table this is built from. */
  readonly source: string;
  readonly columns: readonly ColumnPlan[];
  readonly checks: readonly CheckPlan[];
  readonly key: readonly string[];
  readonly latest: readonly string[];
  readonly materialize: 'merge' | 'replace' | 'scd2';
  /** What a delete from a database source does: remove the row, or keep it with `_deleted = true`. */
  readonly deletes: 'remove' | 'soft';
  /**
   * Key columns of gold models that read this table, logged for incremental gold refreshes — and the partitions of
   * partitioned gold models that can be computed from this table's columns (logged with NULL kept: a partition).
   */
  readonly downstreamKeys: readonly DownstreamKey[];
  readonly contract: ContractPlan;
  /** Partitions used when the table is published. */
  readonly partitionBy: readonly PartitionPlan[];
  readonly publish?: PublishPlan;
  /** `references` checks: this table's column → the silver table and column it must exist in. */
  readonly references: readonly { readonly column: string; readonly table: string; readonly targetColumn: string }[];
  /** Silver tables this one reads (through `references` checks). */
  readonly reads: readonly string[];
  /** Hash of everything that decides this table's contents; a change means a rebuild from bronze. */
  readonly fingerprint: string;
}

export interface GoldPlan {
  readonly name: string;
  readonly sql: string;
  /** When set, a run recomputes only the rows whose key was touched upstream. */
  readonly key?: string;
  /** `silver.x` / `gold.y` tables the SQL reads. */
  readonly reads: readonly string[];
  readonly contract: ContractPlan;
  /** When set, an incremental run recomputes only the partitions its inputs touched (insert_overwrite). */
  readonly partitionBy: readonly PartitionPlan[];
  readonly publish?: PublishPlan;
  readonly fingerprint: string;
}

export type ContractMode = 'evolve' | 'freeze' | 'discard_row' | 'discard_value';

/** What a table does when its input's schema changes (see `SchemaContract`). */
export interface ContractPlan {
  readonly newColumns: ContractMode;
  readonly missingColumns: ContractMode;
  readonly typeChanges: ContractMode;
}

/** One partition level: a column (no `sql`) or a named SQL expression over the table's columns. */
export interface PartitionPlan {
  readonly name: string;
  readonly sql?: string;
}

/** A key a silver table logs for a gold model downstream: a column, or a partition expression (logged under `name`). */
export type DownstreamKey = string | { readonly name: string; readonly sql: string };

export interface PublishPlan {
  readonly format: 'parquet';
  /** As written in the project file, for messages. */
  readonly path: string;
  /** Absolute directory. */
  readonly dir: string;
  readonly partitionBy: readonly PartitionPlan[];
}

export type StepKind = 'bronze' | 'silver' | 'gold' | 'integrate' | 'task';

export interface StepPlan {
  /** `bronze.customers`, `silver.customers`, `gold.customer_360`: a step is named after the table it writes; a task by its key; an integration `integrate.<name>`. */
  readonly name: string;
  readonly kind: StepKind;
  /** The table (or task) name without its layer. */
  readonly table: string;
  /** Steps that must finish first: the tables it reads plus its `after` list. */
  readonly dependsOn: readonly string[];
  readonly retry: RetryPolicy;
  readonly timeoutMs?: number;
  readonly pool?: string;
  readonly trigger: TriggerRule;
  readonly tags: readonly string[];
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}
