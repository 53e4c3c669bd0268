import type { ColumnInfo } from '../warehouse.js';

/**
 * Columns of tables, remembered between catalog lookups. A step asks for the same few tables' columns a dozen times
 * (staging, contracts, quarantine, lineage facets), and each `duckdb_columns()` lookup costs 1–3 ms: a third of an
 * incremental run's fixed cost. The cache must never answer with a schema the asking statement would not see, so:
 *
 * - a DDL statement (CREATE/ALTER/DROP of a non-temporary table or view) makes its table *pending*: nobody reads or
 *   fills its entry until the statement's transaction ends, and the entry is dropped then (commit or rollback);
 * - DDL the classifier cannot name a table for (CREATE SCHEMA, several statements at once, ...) makes every table
 *   pending;
 * - a transaction that began before a table's DDL ended sees its older definition (snapshot isolation), so it
 *   neither reads nor fills that table's entry: `epoch` counts DDL endings, each table remembers its last one, and
 *   only a session whose snapshot is at least as recent may use the entry.
 *
 * Temporary tables never enter it (they are per connection and not in the schemas Refinery introspects).
 */
export class SchemaCache {
  private readonly entries = new Map<string, readonly ColumnInfo[]>();
  private readonly pending = new Map<string, number>();
  private pendingAll = 0;
  /** Counts DDL that ended; `lastEnd` says when each table's last change ended, `lastAllEnd` the last unnamed one. */
  private seq = 0;
  private readonly lastEnd = new Map<string, number>();
  private lastAllEnd = 0;

  /** Now, in DDL endings: a transaction that starts now sees every change up to here. */
  get epoch(): number {
    return this.seq;
  }

  /** The cached columns of `key` (`schema.table`), for a session whose snapshot was taken at `epoch`. */
  get(key: string, epoch: number): readonly ColumnInfo[] | undefined {
    return this.usable(key, epoch) ? this.entries.get(key) : undefined;
  }

  /** Remembers a lookup made by a session whose snapshot was taken at `epoch`, unless the table changed since. */
  set(key: string, epoch: number, columns: readonly ColumnInfo[]): void {
    if (this.usable(key, epoch)) this.entries.set(key, columns);
  }

  /** A statement is about to change the catalog: `targets` from {@link ddlTargets}. */
  begin(targets: DdlTargets): void {
    if (targets === 'all') this.pendingAll++;
    else for (const key of targets) this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  }

  /** The change is committed or rolled back: drop what was known about its tables. */
  end(targets: DdlTargets): void {
    this.seq++;
    if (targets === 'all') {
      this.pendingAll--;
      this.lastAllEnd = this.seq;
      this.entries.clear();
      return;
    }
    for (const key of targets) {
      const left = (this.pending.get(key) ?? 1) - 1;
      if (left > 0) this.pending.set(key, left);
      else this.pending.delete(key);
      this.lastEnd.set(key, this.seq);
      this.entries.delete(key);
    }
  }

  /** Nothing changes the table now, and its last change ended before the session's snapshot: it sees the latest schema. */
  private usable(key: string, epoch: number): boolean {
    return this.pendingAll === 0 && !this.pending.has(key) && this.lastAllEnd <= epoch && (this.lastEnd.get(key) ?? 0) <= epoch;
  }
}

/** The tables (`schema.table`, unquoted) a statement changes the definition of, `'all'` when unsure, or undefined for none. */
export type DdlTargets = ReadonlySet<string> | 'all';

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const TABLE_DDL = new RegExp(
  String.raw`^\s*(?:CREATE\s+(?:OR\s+REPLACE\s+)?(TEMP\s+|TEMPORARY\s+)?(?:TABLE|VIEW)(?:\s+IF\s+NOT\s+EXISTS)?|ALTER\s+(?:TABLE|VIEW)(?:\s+IF\s+EXISTS)?|DROP\s+(?:TABLE|VIEW)(?:\s+IF\s+EXISTS)?)\s+(${IDENT})(?:\s*\.\s*(${IDENT}))?(?:\s*\.\s*(${IDENT}))?`,
  'i',
);
const OTHER_DDL = /^\s*(?:CREATE|ALTER|DROP|ATTACH|DETACH|IMPORT|COMMENT|RENAME|USE|SET\s+SEARCH_PATH)\b/i;

/** DuckDB matches identifiers case-insensitively, quoted or not: keys are lower case. */
function unquote(ident: string): string {
  return (ident.startsWith('"') ? ident.slice(1, -1).replaceAll('""', '"') : ident).toLowerCase();
}

/** The cache key of a table: `schema.table`, lower case. */
export function tableKey(schema: string, table: string): string {
  return `${schema}.${table}`.toLowerCase();
}

/**
 * Which cached tables a statement may change. Only the statement's start is read: what follows a `;` is judged too,
 * conservatively (several statements → `'all'`).
 */
export function ddlTargets(sql: string): DdlTargets | undefined {
  // Leading comments (a user's `-- add a column` above the statement) do not hide what the statement does.
  const body = sql.replace(/^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/, '').trim().replace(/;\s*$/, '');
  // Several statements: any DDL word anywhere counts (a literal that says CREATE costs a cache refill, nothing more).
  if (body.includes(';')) return /\b(?:CREATE|ALTER|DROP|ATTACH|DETACH|IMPORT|COMMENT|RENAME|USE|SET)\b/i.test(body) ? 'all' : undefined;
  const match = TABLE_DDL.exec(body);
  if (match) {
    if (match[1]) return undefined;
    const parts = [match[2], match[3], match[4]].filter((p): p is string => p !== undefined).map(unquote);
    // db.schema.table, schema.table, or an unqualified name (DuckDB's default schema, `main`).
    const [schema, table] = parts.length === 3 ? [parts[1], parts[2]] : parts.length === 2 ? [parts[0], parts[1]] : ['main', parts[0]];
    return new Set([tableKey(schema as string, table as string)]);
  }
  return OTHER_DDL.test(body) ? 'all' : undefined;
}

/** `CREATE TABLE IF NOT EXISTS`: a no-op when the table is there, so it need not unsettle what is known about it. */
export function createsOnlyIfMissing(sql: string): boolean {
  return /^\s*CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\b/i.test(sql);
}
