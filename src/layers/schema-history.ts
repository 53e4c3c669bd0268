import { createHash } from 'node:crypto';
import type { SqlSession, Warehouse } from '../warehouse/warehouse.js';

/**
 * refinery.schema_history: every version of a table's columns and types, with the batch or run that introduced
 * it, written in the transaction that changed the table. Bronze adds notes that keep the table's version: a
 * batch that lacked columns, brought a narrower type, or used an old column name.
 */
export interface SchemaColumn {
  readonly name: string;
  readonly type: string;
}

export type SchemaChangeKind = 'added' | 'removed' | 'widened' | 'retyped' | 'missing' | 'narrower' | 'renamed' | 'discarded' | 'quarantined';

export interface SchemaChange {
  readonly kind: SchemaChangeKind;
  readonly column: string;
  /** The type before (widened, retyped, narrower), or the old name (renamed). */
  readonly from?: string;
  readonly to?: string;
  /** Rows concerned, where counted (discarded values, quarantined rows). */
  readonly rows?: number;
}

/** A version (created, changed, rebuilt) or a note about one batch (missing, narrower, renamed). */
export type SchemaEvent = 'created' | 'changed' | 'rebuilt' | 'missing' | 'narrower' | 'renamed';

export interface SchemaEntry {
  readonly table: string;
  readonly version: number;
  readonly event: SchemaEvent;
  readonly columns: readonly SchemaColumn[];
  readonly changes: readonly SchemaChange[];
  /** What the table was built from, when it matters for the next build (a gold model's output columns). */
  readonly inputColumns?: readonly SchemaColumn[];
  readonly reason?: string;
  readonly batchId?: number;
  readonly sourceFile?: string;
  readonly runId?: number;
  readonly recordedAt: string;
}

const VERSION_EVENTS = `('created', 'changed', 'rebuilt')`;

function toEntry(r: Record<string, unknown>): SchemaEntry {
  const json = <T>(v: unknown, fallback: T): T => (v === null || v === undefined ? fallback : (JSON.parse(String(v)) as T));
  return {
    table: String(r.table_name),
    version: Number(r.version),
    event: String(r.event) as SchemaEvent,
    columns: json<SchemaColumn[]>(r.columns, []),
    changes: json<SchemaChange[]>(r.changes, []),
    ...(r.input_columns === null || r.input_columns === undefined ? {} : { inputColumns: json<SchemaColumn[]>(r.input_columns, []) }),
    ...(r.reason === null || r.reason === undefined ? {} : { reason: String(r.reason) }),
    ...(r.batch_id === null || r.batch_id === undefined ? {} : { batchId: Number(r.batch_id) }),
    ...(r.source_file === null || r.source_file === undefined ? {} : { sourceFile: String(r.source_file) }),
    ...(r.run_id === null || r.run_id === undefined ? {} : { runId: Number(r.run_id) }),
    recordedAt: r.recorded_at instanceof Date ? r.recorded_at.toISOString() : String(r.recorded_at),
  };
}

const COLUMNS = 'table_name, version, event, columns, changes, input_columns, reason, batch_id, source_file, run_id, recorded_at';

/** The current version of a table's schema, or undefined when none was recorded yet. */
export async function latestSchema(session: SqlSession, table: string): Promise<SchemaEntry | undefined> {
  const { rows } = await session.query(`SELECT ${COLUMNS} FROM refinery.schema_history WHERE table_name = $1 AND event IN ${VERSION_EVENTS} ORDER BY version DESC, id DESC LIMIT 1`, [table]);
  return rows[0] ? toEntry(rows[0]) : undefined;
}

/** Every version and note of a table, in the order they were written. */
export async function schemaHistory(session: SqlSession, table: string): Promise<SchemaEntry[]> {
  const { rows } = await session.query(`SELECT ${COLUMNS} FROM refinery.schema_history WHERE table_name = $1 ORDER BY id`, [table]);
  return rows.map(toEntry);
}

export interface NewSchemaEntry {
  readonly table: string;
  readonly event: SchemaEvent;
  readonly columns: readonly SchemaColumn[];
  readonly changes?: readonly SchemaChange[];
  readonly inputColumns?: readonly SchemaColumn[];
  readonly reason?: string;
  readonly batchId?: number;
  readonly sourceFile?: string;
  readonly runId: number;
  readonly at: Date;
}

/** Writes a version (numbered one after the current) or a note (carrying the current version). Returns the version. */
export async function writeSchemaEntry(tx: SqlSession, entry: NewSchemaEntry): Promise<number> {
  const current = (await latestSchema(tx, entry.table))?.version ?? 0;
  const version = entry.event === 'created' || entry.event === 'changed' || entry.event === 'rebuilt' ? current + 1 : Math.max(current, 1);
  await tx.execute(
    `INSERT INTO refinery.schema_history (id, ${COLUMNS}) VALUES (nextval('refinery.schema_history_ids'), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [
      entry.table,
      version,
      entry.event,
      JSON.stringify(entry.columns),
      entry.changes && entry.changes.length > 0 ? JSON.stringify(entry.changes) : null,
      entry.inputColumns ? JSON.stringify(entry.inputColumns) : null,
      entry.reason ?? null,
      entry.batchId ?? null,
      entry.sourceFile ?? null,
      entry.runId,
      entry.at,
    ],
  );
  return version;
}

/** What changed between two column lists, by name (case-insensitive, like the engine). */
export function diffColumns(before: readonly SchemaColumn[], after: readonly SchemaColumn[]): SchemaChange[] {
  const old = new Map(before.map((c) => [c.name.toLowerCase(), c]));
  const now = new Map(after.map((c) => [c.name.toLowerCase(), c]));
  return [
    ...after.filter((c) => !old.has(c.name.toLowerCase())).map((c): SchemaChange => ({ kind: 'added', column: c.name, to: c.type })),
    ...before.filter((c) => !now.has(c.name.toLowerCase())).map((c): SchemaChange => ({ kind: 'removed', column: c.name, from: c.type })),
    ...after.flatMap((c): SchemaChange[] => {
      const was = old.get(c.name.toLowerCase());
      return was && was.type !== c.type ? [{ kind: 'retyped', column: c.name, from: was.type, to: c.type }] : [];
    }),
  ];
}

const sameColumns = (a: readonly SchemaColumn[], b: readonly SchemaColumn[]): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Records a silver or gold table's schema as it stands in `tx`, when it differs from the last version recorded
 * (or none was): a rebuild that lands on the same columns adds nothing. `changes` default to the difference.
 *
 * Returns the schema's fingerprint, for the caller to keep with the table's state (refinery.tables) in the same
 * transaction. Passed back as `known` on the next build, it confirms an unchanged schema without reading the
 * history: every run asks for every model, and the answer is nearly always "unchanged" (a 3–5 ms read each).
 * Undefined for a table without columns.
 */
export async function recordTableSchema(
  tx: SqlSession,
  warehouse: Pick<Warehouse, 'introspector'>,
  layer: string,
  name: string,
  entry: { runId: number; at: Date; reason: string; rebuilt: boolean; changes?: readonly SchemaChange[]; inputColumns?: readonly SchemaColumn[]; known?: string | undefined },
): Promise<string | undefined> {
  const table = `${layer}.${name}`;
  const columns = (await warehouse.introspector.columns(layer, name, tx)).map((c) => ({ name: c.name, type: c.type }));
  if (columns.length === 0) return undefined;
  const fingerprint = schemaFingerprint(columns, entry.inputColumns);
  if (entry.known === fingerprint) return fingerprint;
  const latest = await latestSchema(tx, table);
  const inputsSame = entry.inputColumns === undefined || (latest?.inputColumns !== undefined && sameColumns(latest.inputColumns, entry.inputColumns));
  if (latest && sameColumns(latest.columns, columns) && inputsSame) return fingerprint;
  const changes = entry.changes && entry.changes.length > 0 ? entry.changes : latest ? diffColumns(latest.columns, columns) : [];
  await writeSchemaEntry(tx, {
    table,
    event: !latest ? 'created' : entry.rebuilt ? 'rebuilt' : 'changed',
    columns,
    changes,
    ...(entry.inputColumns ? { inputColumns: entry.inputColumns } : {}),
    reason: entry.reason,
    runId: entry.runId,
    at: entry.at,
  });
  return fingerprint;
}

/** Columns and inputs as one string; sha-256 keeps refinery.tables rows short for wide tables. */
function schemaFingerprint(columns: readonly SchemaColumn[], inputColumns: readonly SchemaColumn[] | undefined): string {
  return createHash('sha256').update(JSON.stringify([columns, inputColumns ?? null])).digest('hex');
}
