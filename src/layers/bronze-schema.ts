import type { ColumnInfo, SqlSession } from '../warehouse/warehouse.js';
import type { StepContext } from '../orchestrator/run-context.js';
import { writeSchemaEntry, type SchemaChange } from './schema-history.js';

/** Where a batch's columns came from, for the schema history. */
export interface BronzeArrival {
  /** The landing file (or extract label) the batch comes from. */
  readonly file?: string;
  /** Bronze name → the old name the file used for it (declared renames). */
  readonly renamed?: ReadonlyMap<string, string>;
}

export interface BronzeEvolution {
  /** Set when the file cannot be stored: a column whose type neither holds nor widens to bronze's. */
  readonly refusal?: string;
  /** What this batch changed or lacked, in words, for the run output. */
  readonly notes: readonly string[];
  /** The id the batch about to be written takes (one past the source's last). */
  readonly batchId: number;
}

/**
 * Creates bronze.<name> or evolves it for a new batch, inside the batch's transaction. Bronze never loses a
 * column: a new one is added (earlier batches have NULL there), a wider type widens the column (integer → bigint
 * → double, date → timestamp; the values it holds are converted, not lost), a narrower one is stored in the wider
 * type. What the batch lacked or renamed is noted in the schema history, and the batch's own columns and types
 * go to refinery.batch_columns, from which silver's contracts decide which rows a change concerns.
 */
export async function evolveBronzeTable(
  ctx: StepContext,
  tx: SqlSession,
  name: string,
  staged: readonly ColumnInfo[],
  lineage: { readonly columns: readonly ColumnInfo[]; readonly notData: readonly string[] },
  arrival: BronzeArrival = {},
): Promise<BronzeEvolution> {
  const d = ctx.warehouse.dialect;
  const bronze = d.table('bronze', name);
  const table = `bronze.${name}`;
  const at = ctx.clock.now();
  const file = arrival.file;
  // The batch about to be written (numbered one past the source's last), and whether the table's schema history
  // has begun: one query, every batch asks both.
  const { rows: idRows } = await tx.query(
    `SELECT (SELECT coalesce(max(batch_id), 0) + 1 FROM refinery.batches WHERE source = $1) AS id,
            EXISTS (SELECT 1 FROM refinery.schema_history WHERE table_name = $2) AS has_history`,
    [name, table],
  );
  const batchId = Number(idRows[0]?.id);
  const hasHistory = idRows[0]?.has_history === true;
  const base = { table, runId: ctx.runId, at, batchId, ...(file ? { sourceFile: file } : {}) };
  const notData = new Set(lineage.notData.map((c) => c.toLowerCase()));
  const current = await ctx.warehouse.introspector.columns('bronze', name, tx);
  const notes: string[] = [];
  if (current.length === 0) {
    const columns = [...staged, ...lineage.columns].map((c) => `${d.quoteIdent(c.name)} ${c.type}`);
    await tx.execute(`CREATE TABLE ${bronze} (${columns.join(', ')})`);
    await writeSchemaEntry(tx, { ...base, event: 'created', columns: staged, reason: 'created from the first batch' });
  } else {
    const data = current.filter((c) => !notData.has(c.name.toLowerCase()));
    // Tables older than the schema history get their current columns as version 1: the baseline from here on.
    if (!hasHistory) await writeSchemaEntry(tx, { table, event: 'created', columns: data, reason: 'the columns bronze had when schema history began', runId: ctx.runId, at });
    const existing = new Map(data.map((c) => [c.name.toLowerCase(), c]));
    const changes: SchemaChange[] = [];
    const narrower: SchemaChange[] = [];
    for (const column of staged) {
      const had = existing.get(column.name.toLowerCase());
      if (!had) {
        changes.push({ kind: 'added', column: column.name, to: column.type });
        continue;
      }
      if (had.type === column.type) continue;
      const wider = d.widerType(had.type, column.type);
      if (wider === undefined) {
        return {
          batchId,
          refusal: `column '${column.name}' is ${column.type} in this file but ${had.type} in ${table}, and neither type holds the other's values (only integer → bigint → double, float or decimal → double, and date → timestamp widen); bronze keeps one type per column`,
          notes,
        };
      }
      if (wider === had.type) narrower.push({ kind: 'narrower', column: had.name, from: column.type, to: had.type });
      else changes.push({ kind: 'widened', column: had.name, from: had.type, to: wider });
    }
    for (const change of changes) {
      // A new column in a later file is kept, never dropped: earlier batches simply have NULL there.
      if (change.kind === 'added') await tx.execute(`ALTER TABLE ${bronze} ADD COLUMN ${d.quoteIdent(change.column)} ${change.to}`);
      else await tx.execute(d.alterColumnType(bronze, change.column, change.to as string));
    }
    if (changes.length > 0) {
      const columns = (await ctx.warehouse.introspector.columns('bronze', name, tx)).filter((c) => !notData.has(c.name.toLowerCase()));
      await writeSchemaEntry(tx, { ...base, event: 'changed', columns, changes, reason: `brought ${describe(changes)}` });
      notes.push(...changes.map((c) => (c.kind === 'added' ? `new column ${c.column} (${c.to}) added to ${table}` : `${c.column} widened from ${c.from} to ${c.to} in ${table}`)));
    }
    const arrived = new Set(staged.map((c) => c.name.toLowerCase()));
    const missing = data.filter((c) => !arrived.has(c.name.toLowerCase())).map((c): SchemaChange => ({ kind: 'missing', column: c.name, from: c.type }));
    if (missing.length > 0) {
      await writeSchemaEntry(tx, { ...base, event: 'missing', columns: data, changes: missing, reason: `batch ${batchId} has no ${missing.map((m) => m.column).join(', ')}: NULL there` });
      notes.push(`no ${missing.map((m) => m.column).join(', ')} in this file: NULL for its rows`);
    }
    if (narrower.length > 0) {
      await writeSchemaEntry(tx, { ...base, event: 'narrower', columns: data, changes: narrower, reason: `batch ${batchId} brought narrower types, stored in the wider ones bronze has` });
      notes.push(...narrower.map((n) => `${n.column} arrived as ${n.from}, narrower than bronze's ${n.to}: stored as ${n.to}, nothing lost`));
    }
  }
  const renamed = [...(arrival.renamed ?? new Map<string, string>()).entries()];
  if (renamed.length > 0) {
    const columns = (await ctx.warehouse.introspector.columns('bronze', name, tx)).filter((c) => !notData.has(c.name.toLowerCase()));
    await writeSchemaEntry(tx, { ...base, event: 'renamed', columns, changes: renamed.map(([to, from]) => ({ kind: 'renamed', column: to, from, to })), reason: 'declared in the source\'s renamed' });
    notes.push(...renamed.map(([to, from]) => `column ${from} stored as ${to} (renamed)`));
  }
  // No earlier rows of this batch to clear: the id is new (one past refinery.batches), and every caller records
  // the batch in this same transaction, so rows written under it can only have been rolled back with it.
  if (staged.length > 0) {
    await tx.execute(
      `INSERT INTO refinery.batch_columns (source, batch_id, column_name, column_type, renamed_from) VALUES ${staged.map((_, i) => `($1, $2, $${3 * i + 3}, $${3 * i + 4}, $${3 * i + 5})`).join(', ')}`,
      [name, batchId, ...staged.flatMap((c) => [c.name, c.type, arrival.renamed?.get(c.name) ?? null])],
    );
  }
  return { notes, batchId };
}

function describe(changes: readonly SchemaChange[]): string {
  return changes.map((c) => (c.kind === 'added' ? `new column ${c.column} (${c.to})` : `${c.column} widened ${c.from} → ${c.to}`)).join(', ');
}
