import type { ContractPlan, GoldPlan } from '../config/plan.js';
import { pipelineError } from '../errors.js';
import { EngineError } from '../warehouse/engine-error.js';
import type { ColumnInfo, SqlSession } from '../warehouse/warehouse.js';
import type { StepContext } from '../orchestrator/run-context.js';
import { latestSchema, type SchemaChange } from './schema-history.js';

/**
 * A gold model's schema contract. The model's SQL does not change, but what it returns can: a silver table that
 * evolved a column feeds a `SELECT *`, a widened silver type widens a sum. The table's columns (T) are compared
 * with the model's output columns (M), and the contract says what the table does:
 *
 * - a new column: `evolve` adds it (by a rebuild: earlier rows need its values), `discard_value` leaves it out,
 *   `discard_row` sets rows with a value there aside in quarantine.gold_<model>;
 * - a missing column: `evolve` and `discard_value` keep it, NULL; `discard_row` sets every row aside;
 * - a type change: `evolve` widens the column in place (integer → bigint → double, date → timestamp); a narrower
 *   type is stored in the table's wider one; values that do not fit are NULL (`discard_value`) or set aside
 *   (`discard_row`). A type that is neither is not followed silently: `evolve` fails and says what to do.
 *
 * `freeze` fails on any of them before anything is written. The first build and a change to the model (its SQL,
 * key, partitions or contract) take the model's columns as they are; --full-refresh keeps to the contract, so that
 * it builds what incremental runs built.
 */
export interface GoldContract {
  /** The SELECT to materialise: the model's SQL, or the model adjusted to the table's columns. */
  readonly sql: string;
  /** Rows set aside (discard_row): a condition over the model's output `m`, and its detail in words (SQL). */
  readonly violation?: { readonly when: string; readonly detail: string };
  /** Columns to widen in place before an incremental refresh. */
  readonly widen: readonly ColumnInfo[];
  /** Set when the change needs every row recomputed. */
  readonly rebuildReason?: string;
  readonly notes: readonly string[];
  readonly changes: readonly SchemaChange[];
  /** The model's output columns (recorded with the table's schema, to tell a new change from a known one). */
  readonly outputColumns: readonly ColumnInfo[];
}

export async function applyGoldContract(ctx: StepContext, tx: SqlSession, model: GoldPlan, reset: boolean): Promise<GoldContract> {
  const d = ctx.warehouse.dialect;
  const step = `gold.${model.name}`;
  // The model is wrapped in a subquery below: a closing semicolon would end the statement early.
  const body = model.sql.trim().replace(/;\s*$/, '');
  let output: ColumnInfo[];
  try {
    output = [...(await tx.query(`SELECT * FROM (${body}) AS m LIMIT 0`)).columns];
  } catch (error) {
    // A model that does not run fails below, where its error is explained.
    if (error instanceof EngineError) return { sql: model.sql, widen: [], notes: [], changes: [], outputColumns: [] };
    throw error;
  }
  const plain: GoldContract = { sql: model.sql, widen: [], notes: [], changes: [], outputColumns: output };
  if (reset) return plain;
  const table = await ctx.warehouse.introspector.columns('gold', model.name, tx);
  const key = (c: ColumnInfo): string => c.name.toLowerCase();
  const out = new Map(output.map((c) => [key(c), c]));
  const have = new Set(table.map(key));
  const added = output.filter((c) => !have.has(key(c)));
  const missing = table.filter((c) => !out.has(key(c)));
  const retyped = table.flatMap((c) => {
    const m = out.get(key(c));
    return m && m.type !== c.type ? [{ column: c, output: m }] : [];
  });
  if (added.length === 0 && missing.length === 0 && retyped.length === 0) return plain;

  const q = (n: string): string => d.quoteIdent(n);
  const contract: ContractPlan = model.contract;
  const from = model.reads.join(', ');
  const freeze = (kind: keyof ContractPlan, column: string, what: string): never => {
    throw pipelineError({
      code: 'schema_contract_violation',
      step,
      table: step,
      column,
      message: `${step}: ${what} (it reads ${from}), and its contract says ${kind}: 'freeze'. Nothing was written to ${step}.`,
      hint: `Change the model's SQL to return the columns and types of ${step}, or set its contract.${kind} to 'evolve', 'discard_value' or 'discard_row'.`,
    });
  };
  const select: string[] = [];
  const widen: ColumnInfo[] = [];
  const notes: string[] = [];
  const changes: SchemaChange[] = [];
  const violations: { when: string; detail: string }[] = [];
  let needsRebuild: string | undefined;

  for (const c of table) {
    const m = out.get(key(c));
    const col = `m.${q(m?.name ?? c.name)}`;
    if (!m) {
      if (contract.missingColumns === 'freeze') freeze('missingColumns', c.name, `the model no longer returns column '${c.name}' (${c.type})`);
      if (contract.missingColumns === 'discard_row') violations.push({ when: 'TRUE', detail: `model returns no column ${c.name}` });
      select.push(`CAST(NULL AS ${c.type}) AS ${q(c.name)}`);
      notes.push(`the model no longer returns ${c.name}: kept, NULL (contract missingColumns: ${contract.missingColumns})`);
      changes.push({ kind: 'missing', column: c.name, from: c.type });
      continue;
    }
    if (m.type === c.type) {
      select.push(`${col} AS ${q(c.name)}`);
      continue;
    }
    const wider = d.widerType(c.type, m.type);
    const fits = `(${col} IS NULL OR ${d.tryCast(col, c.type)} IS NOT DISTINCT FROM ${col})`;
    if (contract.typeChanges === 'freeze') freeze('typeChanges', c.name, `column '${c.name}' is now ${m.type} in the model's output, but ${step}.${c.name} is ${c.type}`);
    if (wider === c.type) {
      // Narrower: every value fits the table's type, which is kept.
      select.push(`CAST(${col} AS ${c.type}) AS ${q(c.name)}`);
      notes.push(`${c.name} is now ${m.type} in the model's output, narrower than ${c.type}: kept ${c.type}, nothing lost`);
      changes.push({ kind: 'narrower', column: c.name, from: m.type, to: c.type });
    } else if (contract.typeChanges === 'evolve') {
      if (wider === undefined) {
        throw pipelineError({
          code: 'schema_type_not_widening',
          step,
          table: step,
          column: c.name,
          message: `${step}: column '${c.name}' is now ${m.type} in the model's output, but ${step}.${c.name} is ${c.type}, and ${m.type} is not a widening of it; it was not converted silently. Nothing was written to ${step}.`,
          hint: `Cast it in the model's SQL, or set contract.typeChanges to 'discard_value' or 'discard_row'; a changed model (SQL or contract) is rebuilt with the types it returns.`,
        });
      }
      select.push(`${col} AS ${q(c.name)}`);
      widen.push({ name: c.name, type: wider });
      notes.push(`${c.name} widened from ${c.type} to ${wider} (contract typeChanges: evolve)`);
      changes.push({ kind: 'widened', column: c.name, from: c.type, to: wider });
    } else if (contract.typeChanges === 'discard_value') {
      select.push(`CASE WHEN ${fits} THEN ${d.tryCast(col, c.type)} END AS ${q(c.name)}`);
      notes.push(`${c.name} values that do not fit ${c.type} (now ${m.type}) are NULL (contract typeChanges: discard_value)`);
      changes.push({ kind: 'discarded', column: c.name, from: m.type, to: c.type });
    } else {
      select.push(`${d.tryCast(col, c.type)} AS ${q(c.name)}`);
      violations.push({ when: `NOT ${fits}`, detail: `${c.name} does not fit ${c.type}` });
      changes.push({ kind: 'quarantined', column: c.name, from: m.type, to: c.type });
    }
  }
  for (const m of added) {
    const col = `m.${q(m.name)}`;
    if (contract.newColumns === 'freeze') freeze('newColumns', m.name, `the model now returns a new column '${m.name}' (${m.type})`);
    if (contract.newColumns === 'evolve') {
      select.push(`${col} AS ${q(m.name)}`);
      needsRebuild = `new column ${m.name} (${m.type}) from upstream: rebuilt so every row has it (contract newColumns: evolve)`;
      changes.push({ kind: 'added', column: m.name, to: m.type });
    } else if (contract.newColumns === 'discard_row') {
      violations.push({ when: `${col} IS NOT NULL`, detail: `new column ${m.name} has a value` });
    } else {
      notes.push(`new column ${m.name} (${m.type}) from upstream left out (contract newColumns: discard_value)`);
      changes.push({ kind: 'discarded', column: m.name, to: m.type });
    }
  }
  // A column newly missing from the output is NULL for every row: recompute them all, once.
  const known = (await latestSchema(tx, step))?.inputColumns;
  const drifted = !known || JSON.stringify(known.map((c) => [c.name, c.type])) !== JSON.stringify(output.map((c) => [c.name, c.type]));
  if (missing.length > 0 && drifted) needsRebuild ??= `${missing.map((c) => c.name).join(', ')} no longer in the model's output: rebuilt with NULL there`;
  if (violations.length > 0) needsRebuild ??= `rebuilt so the rows breaking its contract are set aside (contract: discard_row)`;
  const violation =
    violations.length > 0
      ? { when: violations.map((v) => `(${v.when})`).join(' OR '), detail: `CASE ${violations.map((v) => `WHEN ${v.when} THEN ${d.literal(`${v.detail} (contract: discard_row)`)}`).join(' ')} END` }
      : undefined;
  const sql = `SELECT ${select.join(', ')} FROM (${body}) AS m${violation ? ` WHERE NOT (${violation.when})` : ''}`;
  return { sql, ...(violation ? { violation } : {}), widen, ...(needsRebuild ? { rebuildReason: needsRebuild } : {}), notes, changes, outputColumns: output };
}

/**
 * Writes the rows a discard_row contract sets aside to quarantine.gold_<model> (replaced with each rebuild), or
 * drops that table when nothing is set aside any more.
 */
export async function quarantineGoldRows(ctx: StepContext, tx: SqlSession, model: GoldPlan, contract: GoldContract): Promise<number> {
  const d = ctx.warehouse.dialect;
  const target = d.table('quarantine', `gold_${model.name}`);
  if (!contract.violation) {
    await tx.execute(`DROP TABLE IF EXISTS ${target}`);
    return 0;
  }
  await tx.execute(
    `CREATE OR REPLACE TABLE ${target} AS SELECT m.*, ${d.literal('schema_violation')} AS _reason, ${contract.violation.detail} AS _detail, CAST(${ctx.runId} AS BIGINT) AS _run_id
     FROM (${model.sql.trim().replace(/;\s*$/, '')}) AS m WHERE ${contract.violation.when}`,
  );
  return Number((await tx.query(`SELECT count(*) AS n FROM ${target}`)).rows[0]?.n ?? 0);
}

/** Widens the table's columns the contract widened, in place, before an incremental refresh inserts into them. */
export async function widenInPlace(ctx: StepContext, tx: SqlSession, model: GoldPlan, contract: GoldContract): Promise<void> {
  const d = ctx.warehouse.dialect;
  for (const c of contract.widen) await tx.execute(d.alterColumnType(d.table('gold', model.name), c.name, c.type));
}
