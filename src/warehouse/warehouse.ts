/**
 * The one engine interface the core speaks to. Like kysely's Dialect it is assembled from small roles —
 * a driver (connections, transactions), a SQL dialect (the few statements that differ between engines),
 * capability flags, an introspector, a SQL parser and a landing-file stager — so a PostgreSQL warehouse can be
 * added beside DuckDB without the core ever asking which engine it runs on.
 */

/** A value bound to a `$1`-style parameter. */
export type SqlParam = string | number | bigint | boolean | null | Date;

/** A row as the engine returns it, converted to plain JSON-friendly values (see `normalizeValue`). */
export type Row = Record<string, unknown>;

export interface QueryResult {
  readonly columns: readonly ColumnInfo[];
  readonly rows: readonly Row[];
}

export interface ColumnInfo {
  readonly name: string;
  /** The engine's own type name, e.g. `VARCHAR`, `BIGINT`, `DECIMAL(18,2)`. */
  readonly type: string;
}

/** Something SQL can be sent to: the warehouse outside a transaction, or a transaction. */
export interface SqlSession {
  query(sql: string, params?: readonly SqlParam[]): Promise<QueryResult>;
  /** Runs a statement and returns the number of rows it changed (0 when the engine does not say). */
  execute(sql: string, params?: readonly SqlParam[]): Promise<number>;
}

export interface TransactionOptions {
  /** Aborting interrupts the running statement and rolls the transaction back. */
  readonly signal?: AbortSignal;
  /**
   * Runs on the transaction's own connection just before it begins, outside it: for scratch work the transaction
   * reads but that needs no undoing, such as staging an extract into a temporary table. DuckDB keeps what a
   * transaction writes in transaction-local storage and scans it at about half the speed of a committed table, so
   * a million staged rows are read twice as fast when staged here.
   */
  readonly beforeBegin?: (session: SqlSession) => Promise<void>;
}

export interface WarehouseDriver extends SqlSession {
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws or is aborted. */
  transaction<T>(work: (tx: SqlSession) => Promise<T>, options?: TransactionOptions): Promise<T>;
  close(): Promise<void>;
}

/** Logical column types a project file may declare; each dialect maps them to its own types. */
export type LogicalType = 'text' | 'integer' | 'double' | 'boolean' | 'date' | 'timestamp' | `decimal(${number},${number})` | 'decimal';

export interface SqlDialect {
  quoteIdent(name: string): string;
  /** `schema.table`, both quoted. */
  table(schema: string, name: string): string;
  literal(value: string | number | boolean | null): string;
  sqlType(type: LogicalType): string;
  /** Boolean: does the whole of `expr` match the regular expression? */
  regexFullMatch(expr: string, pattern: string): string;
  regexReplace(expr: string, pattern: string, replacement: string): string;
  /** Removes leading and trailing white space (spaces, tabs, line breaks, non-breaking spaces). */
  trim(expr: string): string;
  /** Evaluates `body`, an expression in which `name` stands for `expr` (user cleaning rules written over `value`). */
  bind(expr: string, name: string, body: string): string;
  /** Capitalises each word; a letter after a space, hyphen or apostrophe starts a word. */
  titleCase(expr: string): string;
  /** Converts cleaned text to a typed value; NULL when it does not parse (never an error). */
  parse(expr: string, type: LogicalType, formats?: readonly string[]): string;
  /** A stable hash of the given expressions (used for `_row_hash`). */
  rowHash(exprs: readonly string[]): string;
  /** A fast hash of the given expressions, as text: enough to notice that a record changed between runs (not stable across engine versions). */
  changeHash(exprs: readonly string[]): string;
  /** Current timestamp expression is never used: time is injected, so timestamps arrive as parameters. */
  timestampLiteral(date: Date): string;
  /** Similarity of two strings in [0, 1] (Jaro-Winkler), for fuzzy matching. */
  jaroWinkler(a: string, b: string): string;
  /** Edit distance between two strings (Levenshtein). */
  levenshtein(a: string, b: string): string;
  /**
   * Boolean: two normalised names (lower-case words separated by single spaces) have the same number of words and
   * each pair of words is equal or one is the initial of the other ("j smith" ~ "john smith" ~ "john s").
   */
  namesCompatible(a: string, b: string): string;
  /** Aggregate: the group's rows as a list of records with these fields, in this order (provenance candidates). */
  collectList(fields: readonly (readonly [string, string])[], orderBy: string): string;
  /** Age in (fractional) days of timestamp `expr` at `now`. */
  ageDays(expr: string, now: Date): string;
  /** A record (struct) value; records compare field by field, in this order, so `greatest` can rank by several values. */
  record(fields: readonly (readonly [string, string])[]): string;
  /** One field of a record value. */
  recordField(expr: string, name: string): string;
  /** The records whose `field` is not NULL, as a list, in the order given. */
  presentList(records: readonly string[], field: string): string;
  /** Text without diacritics ('García' → 'Garcia'), so values that differ only in accents compare equal. */
  stripAccents(expr: string): string;
  /** Aggregate: `arg` of the row with the greatest (`by[0]`, `by[1]`, ...), compared in that order. */
  argMax(arg: string, by: readonly string[]): string;
  /**
   * Of two engine types, the one that holds every value of both without loss when one widens to the other
   * (integer → bigint → double, float or decimal → double, date → timestamp); undefined when neither does.
   */
  widerType(a: string, b: string): string | undefined;
  /** The logical type nearest to an engine type: how a column passed through from a typed source is typed in silver. */
  logicalType(engineType: string): LogicalType;
  /** Aggregate: a fingerprint of the group's rows over these expressions, as text; the same rows in any order give the same text. */
  setFingerprint(exprs: readonly string[]): string;
  /** A statement changing a column's type in place, converting the values it holds. */
  alterColumnType(table: string, column: string, type: string): string;
  /** `expr` converted to an engine type, or NULL where it does not convert (never an error). */
  tryCast(expr: string, type: string): string;
  /** The column definition's type for text holding a hash (`_row_hash`): every value different, hex digits only. */
  hashTextType(): string;
  /** A SELECT of one row per SQL literal (of one type), as column `column`: for lists of keys sent with a statement. */
  rowsOf(literals: readonly string[], column: string): string;
}

export interface WarehouseCapabilities {
  /** The engine can read landing files (CSV, JSON, Parquet) itself. */
  readonly readsFilesNatively: boolean;
  /** DDL (CREATE/DROP TABLE) takes part in transactions, so a failed step leaves no half-built table. */
  readonly transactionalDdl: boolean;
  /** `MERGE INTO` is available. */
  readonly supportsMerge: boolean;
}

/** Reads the catalog. Pass the transaction's session to see tables it created but has not committed yet. */
export interface Introspector {
  tableExists(schema: string, table: string, session?: SqlSession): Promise<boolean>;
  columns(schema: string, table: string, session?: SqlSession): Promise<ColumnInfo[]>;
  tables(schema?: string, session?: SqlSession): Promise<{ schema: string; name: string }[]>;
  /** Reads the columns of every table in `schemas` at once, where an engine remembers them (one lookup, not one per table). */
  prime?(schemas: readonly string[]): Promise<void>;
}

export interface SqlParser {
  /**
   * The `schema.table` names a SELECT reads (CTE names excluded), or a parse error message.
   * Used to take dependencies from what a model reads.
   */
  referencedTables(sql: string): Promise<{ tables: string[] } | { error: string }>;
  /**
   * Column-level lineage of one SELECT, or a parse error message. `tables` maps each `schema.table` the SQL may
   * read to its columns (to expand `*` and resolve unqualified names); tables missing from it are taken as written.
   */
  selectLineage(sql: string, tables: ReadonlyMap<string, readonly string[]>): Promise<SelectLineage | { error: string }>;
}

/**
 * How one column feeds another, in OpenLineage's terms: `direct` when the value is derived from it (identity,
 * transformation, aggregation), `indirect` when it decides which rows there are or which value is chosen
 * (filter, join, group_by, sort, window, conditional; dedupe for silver's key and latest).
 */
export type LineageKind = 'direct' | 'indirect';
export type LineageTransformation = 'identity' | 'transformation' | 'aggregation' | 'filter' | 'join' | 'group_by' | 'sort' | 'window' | 'conditional' | 'dedupe';

export interface ColumnSource {
  /** `schema.table`. */
  readonly table: string;
  readonly column: string;
}

export interface ColumnDependency extends ColumnSource {
  readonly kind: LineageKind;
  readonly transformation: LineageTransformation;
}

/** What a SELECT's output columns are made from: engine-neutral, whatever parser produced it. */
export interface SelectLineage {
  /** Output columns in order: each with the columns its values come from (and the ones that choose its value). */
  readonly columns: readonly { readonly name: string; readonly dependencies: readonly ColumnDependency[] }[];
  /** Columns that decide which rows there are (filters, joins, grouping, sorting): indirect for every output column. */
  readonly rowDependencies: readonly ColumnDependency[];
  /** Column pairs an equi-join or USING makes equal in every output row (used to follow a key across tables). */
  readonly joinEqualities: readonly (readonly [ColumnSource, ColumnSource])[];
  /** What could not be resolved, in words: the lineage then lacks those edges but claims nothing false. */
  readonly warnings: readonly string[];
}

export type FileFormat = 'csv' | 'jsonl' | 'json' | 'parquet';

export interface CsvOptions {
  readonly delimiter: string;
  readonly quote: string;
  readonly escape: string;
  readonly encoding: 'utf-8' | 'latin-1';
  /** The text that means NULL (database extracts write \N). Default: none — an empty field is ''. */
  readonly nullString?: string;
}

export interface StageRequest {
  readonly file: string;
  readonly format: FileFormat;
  readonly csv: CsvOptions;
  /** For CSV/JSON: the column names, in file order (read from the header by the caller). */
  readonly columns?: readonly string[];
  /** Name of the temporary table to create. */
  readonly stagingTable: string;
  /**
   * CSV only: append to `stagingTable`, made by an earlier stage() of the same columns on this session, instead of
   * creating it: the parts of one extract, staged as they arrive. The result then describes the whole table.
   */
  readonly append?: boolean;
}

export interface StagedFile {
  /** Columns staged, in file order, with their engine types. */
  readonly columns: readonly ColumnInfo[];
  /** Rows the engine parsed cleanly, held in the staging table. */
  readonly rows: number;
  /** SQL expression over the staging table giving each clean row's 0-based position among the clean rows, in file order. */
  readonly rowIndexExpr: string;
  /** Records the engine could not split into the expected columns (ragged rows, bad encoding). */
  readonly rejects: readonly RejectedRecord[];
}

export interface RejectedRecord {
  /** Byte offset where the engine says the bad record's line starts. */
  readonly byteOffset: number;
  readonly kind: string;
  readonly message: string;
  readonly rawLine: string;
}

export interface FileStager {
  /** Loads one landing file into a temporary staging table inside `session`. */
  stage(session: SqlSession, request: StageRequest): Promise<StagedFile>;
}

export interface PartitionedWrite {
  /** A SELECT whose rows are written; the partition columns are among its columns. */
  readonly sql: string;
  /** Directory to write into; it must not exist yet. */
  readonly dir: string;
  /** Columns whose values name the directories (`name=value/`), outermost first; they are left out of the files. */
  readonly partitionBy: readonly string[];
}

export interface WrittenPartition {
  /** Relative to the directory written, e.g. `country=DE/order_month=2024-03-01`. */
  readonly directory: string;
  /** The partition values as text (NULL as null), in `partitionBy` order. */
  readonly values: readonly (string | null)[];
}

export interface TableExporter {
  /**
   * Writes rows as Hive-partitioned Parquet (`name=value` directories, values percent-encoded, NULL as
   * `__HIVE_DEFAULT_PARTITION__`) that DuckDB, Spark and pandas read as they are; returns the directories written.
   */
  writePartitionedParquet(session: SqlSession, request: PartitionedWrite): Promise<WrittenPartition[]>;
}

export interface Warehouse extends WarehouseDriver {
  readonly engine: string;
  /** Where the data lives, for messages (a file path or a connection string without secrets). */
  readonly location: string;
  readonly dialect: SqlDialect;
  readonly capabilities: WarehouseCapabilities;
  readonly introspector: Introspector;
  readonly parser: SqlParser;
  readonly files: FileStager;
  readonly exporter: TableExporter;
}
