import type { ColumnPlan, ContractMode, SilverPlan } from '../config/plan.js';
import { pipelineError } from '../errors.js';
import type { ColumnInfo, SqlSession } from '../warehouse/warehouse.js';
import type { StepContext } from '../orchestrator/run-context.js';
import type { SchemaRules } from './silver-sql.js';

/**
 * A silver table's schema contract, applied to what bronze holds. Everything is decided from the schema history
 * and refinery.batch_columns (which columns and types each batch arrived with), never from when the table was
 * last built, so an incremental run and a rebuild reach the same table:
 *
 * - new columns: bronze columns that were not in bronze's first version and that silver does not read. `evolve`
 *   passes them through as they are (text from CSV and JSON, their own type from Parquet);
 * - missing columns: a column silver reads that a batch lacked, although an earlier batch had it;
 * - type changes: a batch whose type for a column silver reads is wider than the type the column first arrived
 *   with, and does not fit the silver column. `evolve` widens the silver column.
 *
 * `freeze` stops the build before anything is written; `discard_row` sets the batch's rows aside as
 * schema_violation; `discard_value` keeps the rows with NULL there, and counts them.
 */
export interface SilverContract {
  /** The table as it will be built: passed-through columns added, widened types applied. */
  readonly plan: SilverPlan;
  readonly rules: SchemaRules;
  /** What the contract did in this build, in words, for the run output. */
  readonly notes: readonly string[];
  /** The silver table's columns changed in place (added or widened). */
  readonly altered: boolean;
}

export interface ContractWindow {
  /** Bronze data columns (lineage left out), with their current types. */
  readonly bronzeColumns: readonly ColumnInfo[];
  /** The batches this build reads: (after, upTo], replaced ones excluded. */
  readonly after: number;
  readonly upTo: number;
  readonly excluded: readonly number[];
  /** The table is dropped and built again (no in-place change needed). */
  readonly rebuild: boolean;
}

interface ColumnFacts {
  /** The type it arrived with first, and every type batches brought it with. */
  readonly firstType: string;
  readonly firstBatch: number;
  readonly types: ReadonlySet<string>;
}

/** Applies the contract; throws (nothing written) on a `freeze` violation or a change `evolve` cannot follow. */
export async function applySilverContract(ctx: StepContext, tx: SqlSession, table: SilverPlan, window: ContractWindow): Promise<SilverContract> {
  const d = ctx.warehouse.dialect;
  const step = `silver.${table.name}`;
  const source = table.source;
  const { facts, baseline } = await bronzeColumnHistory(tx, source, window.bronzeColumns);
  const lower = (s: string): string => s.toLowerCase();
  const bronzeType = new Map(window.bronzeColumns.map((c) => [lower(c.name), c.type]));
  const reads = new Set(table.columns.filter((c) => !c.sql).map((c) => lower(c.from)));
  // A column an `sql` expression reads is not new to the table either (found by name: expressions are not parsed).
  const expressions = table.columns.flatMap((c) => (c.sql ? [c.sql.toLowerCase()] : []));
  for (const c of window.bronzeColumns) {
    const name = lower(c.name);
    if (/^[a-z_][a-z0-9_]*$/.test(name) && expressions.some((e) => new RegExp(`(^|[^a-z0-9_])${name}($|[^a-z0-9_])`).test(e))) reads.add(name);
  }
  const silverNames = new Set([...table.columns.map((c) => lower(c.name)), 'valid_from', 'valid_to', 'is_current', '_deleted']);
  const inWindow = `batch_id > ${window.after} AND batch_id <= ${window.upTo}${window.excluded.length > 0 ? ` AND batch_id NOT IN (${window.excluded.join(', ')})` : ''}`;
  const src = d.literal(source);
  const carrying = (column: string, types?: readonly string[]): string =>
    `SELECT batch_id FROM refinery.batch_columns WHERE source = ${src} AND lower(column_name) = ${d.literal(lower(column))}${types ? ` AND column_type IN (${types.map((t) => d.literal(t)).join(', ')})` : ''}`;
  const lacking = (column: string, after: number): string =>
    `SELECT batch_id FROM refinery.batch_columns WHERE source = ${src} AND batch_id > ${after} GROUP BY batch_id HAVING count(CASE WHEN lower(column_name) = ${d.literal(lower(column))} THEN 1 END) = 0`;
  const violations: SchemaRules['violations'][number][] = [];
  const nulls: SchemaRules['nulls'][number][] = [];
  const notes: string[] = [];
  const columns: ColumnPlan[] = [...table.columns];
  const widened = new Set<string>();
  const contract = table.contract;
  const fail = async (kind: keyof SilverPlan['contract'], column: string, batchesSql: string, what: (file: string) => string, hint: string): Promise<never> => {
    const file = await firstFile(tx, source, batchesSql, inWindow);
    throw pipelineError({
      code: 'schema_contract_violation',
      step,
      table: step,
      column,
      ...(file ? { file } : {}),
      message: `${step}: ${what(file ?? 'a batch')}, and its contract says ${kind}: 'freeze'. Nothing was written to ${step}.`,
      hint,
    });
  };
  const count = async (when: string): Promise<number> =>
    Number((await tx.query(`SELECT count(*) AS n FROM ${d.table('bronze', source)} WHERE ${inWindow.replaceAll('batch_id', '_batch_id')} AND ${when}`)).rows[0]?.n ?? 0);
  const detail = (words: string): string => `${d.literal(words.split('{file}')[0] ?? '')} || _source_file || ${d.literal(words.split('{file}')[1] ?? '')}`;

  // New columns.
  for (const column of window.bronzeColumns) {
    const name = lower(column.name);
    if (baseline.has(name) || reads.has(name)) continue;
    const type = facts.get(name)?.firstType ?? column.type;
    const batches = carrying(column.name);
    const mode = contract.newColumns;
    if (mode === 'freeze') {
      if (await windowHas(tx, batches, inWindow)) {
        await fail('newColumns', column.name, batches, (file) => `${file} brings a new column '${column.name}' (${type}) that bronze.${source} did not have at first`, `Declare '${column.name}' under silver.${table.name}.columns, set contract.newColumns to 'evolve', 'discard_value' or 'discard_row', or land a corrected file under the same path.`);
      }
    } else if (mode === 'evolve') {
      if (silverNames.has(name)) {
        notes.push(`new column ${column.name} not passed through: silver.${table.name} already has a column of that name`);
        continue;
      }
      columns.push({ name: column.name, from: column.name, clean: [], type: d.logicalType(type), formats: [], keepEmpty: true, passthrough: true });
    } else if (mode === 'discard_row') {
      violations.push({ when: `_batch_id IN (${batches})`, detail: detail(`{file} brings column '${column.name}', which silver.${table.name} does not take (contract newColumns: discard_row)`) });
    } else {
      const n = await count(`_batch_id IN (${batches}) AND ${d.quoteIdent(column.name)} IS NOT NULL`);
      if (n > 0) notes.push(`${n} value${n === 1 ? '' : 's'} of new column ${column.name} discarded (contract newColumns: discard_value)`);
    }
  }

  // Missing columns: only the ones silver reads matter.
  const readColumns = columns.filter((c) => !c.sql && bronzeType.has(lower(c.from)));
  if (contract.missingColumns !== 'evolve') {
    for (const c of readColumns) {
      const f = facts.get(lower(c.from));
      // A column bronze had from the start is missing from any batch without it; a later one only after it arrived.
      const since = baseline.has(lower(c.from)) ? 0 : f?.firstBatch;
      if (since === undefined) continue;
      const batches = lacking(c.from, since);
      const mode: ContractMode = contract.missingColumns;
      if (mode === 'freeze') {
        if (await windowHas(tx, batches, inWindow)) await fail('missingColumns', c.from, batches, (file) => `${file} has no column '${c.from}', which silver.${table.name}.${c.name} reads`, `Land a corrected file under the same path, or set contract.missingColumns to 'evolve' (NULL), 'discard_value' or 'discard_row'.`);
      } else if (mode === 'discard_row') {
        violations.push({ when: `_batch_id IN (${batches})`, detail: detail(`{file} has no column '${c.from}', which silver.${table.name} reads (contract missingColumns: discard_row)`) });
      } else {
        const n = await count(`_batch_id IN (${batches})`);
        if (n > 0) notes.push(`${n} row${n === 1 ? '' : 's'} from files without ${c.from}: ${c.name} is NULL there (contract missingColumns: discard_value)`);
      }
    }
  }

  // Type changes: a batch type wider than the first one, that the silver column cannot hold.
  for (const [i, c] of columns.entries()) {
    if (c.sql) continue;
    const f = facts.get(lower(c.from));
    const current = bronzeType.get(lower(c.from));
    if (!f || !current) continue;
    const silverType = d.sqlType(c.type);
    const fits = (t: string): boolean => d.logicalType(silverType) === 'text' || d.widerType(t, silverType) === silverType;
    const wider = [...f.types].filter((t) => t !== f.firstType && d.widerType(f.firstType, t) === t && !fits(t));
    if (wider.length === 0) continue;
    const batches = carrying(c.from, wider);
    const mode = contract.typeChanges;
    const widest = wider.reduce((a, b) => d.widerType(a, b) ?? a);
    if (mode === 'freeze') {
      if (await windowHas(tx, batches, inWindow)) {
        await fail('typeChanges', c.from, batches, (file) => `${file} brings '${c.from}' as ${widest}, but silver.${table.name}.${c.name} is ${silverType}`, `Set contract.typeChanges to 'evolve' (widen ${c.name} to ${widest}), 'discard_value' or 'discard_row', or declare ${c.name} with a wider type.`);
      }
    } else if (mode === 'evolve') {
      const target = d.widerType(silverType, current);
      if (target === undefined || target === silverType) {
        throw pipelineError({
          code: 'schema_type_not_widening',
          step,
          table: step,
          column: c.name,
          message: `${step}: ${c.from} now arrives as ${current}, which ${c.name} (${silverType}) cannot hold and cannot widen to; it was not narrowed silently. Nothing was written to ${step}.`,
          hint: `Declare ${c.name} with a type that holds ${current}, or set contract.typeChanges to 'discard_value' or 'discard_row'.`,
        });
      }
      columns[i] = { ...c, type: d.logicalType(target) };
      widened.add(c.name);
    } else if (mode === 'discard_row') {
      violations.push({ when: `_batch_id IN (${batches}) AND ${d.quoteIdent(c.from)} IS NOT NULL`, detail: detail(`{file} brings '${c.from}' as ${widest}, wider than silver.${table.name}.${c.name} (${silverType}) (contract typeChanges: discard_row)`) });
    } else {
      const when = `_batch_id IN (${batches})`;
      nulls.push({ column: c.name, when });
      const n = await count(`${when} AND ${d.quoteIdent(c.from)} IS NOT NULL`);
      if (n > 0) notes.push(`${n} ${c.name} value${n === 1 ? '' : 's'} arriving as ${widest} set to NULL: silver keeps ${silverType} (contract typeChanges: discard_value)`);
    }
  }

  const plan: SilverPlan = { ...table, columns };
  const evolved = await evolveInPlace(ctx, tx, plan, window, columns.filter((c) => c.passthrough || widened.has(c.name)));
  return { plan, rules: { violations, nulls }, notes: [...evolved, ...notes], altered: evolved.length > 0 };
}

/**
 * Adds and widens, in place, the silver columns the contract evolved (`changed`), so earlier rows stay as they
 * are; widens quarantine's raw columns with bronze's. A rebuild only says what it evolves: it creates the table anew.
 */
async function evolveInPlace(ctx: StepContext, tx: SqlSession, plan: SilverPlan, window: ContractWindow, changed: readonly ColumnPlan[]): Promise<string[]> {
  const d = ctx.warehouse.dialect;
  const notes: string[] = [];
  const existing = await ctx.warehouse.introspector.columns('silver', plan.name, tx);
  if (existing.length === 0) {
    // A first build: say which columns it passes through, since the project file does not list them.
    for (const c of changed.filter((p) => p.passthrough)) notes.push(`new column ${c.name} (${d.sqlType(c.type)}) passed through from bronze (contract newColumns: evolve)`);
  } else {
    const have = new Map(existing.map((c) => [c.name.toLowerCase(), c.type]));
    for (const c of changed) {
      const type = d.sqlType(c.type);
      const was = have.get(c.name.toLowerCase());
      if (was === type) continue;
      if (!window.rebuild && was === undefined) await tx.execute(`ALTER TABLE ${d.table('silver', plan.name)} ADD COLUMN ${d.quoteIdent(c.name)} ${type}`);
      else if (!window.rebuild) await tx.execute(d.alterColumnType(d.table('silver', plan.name), c.name, type));
      notes.push(was === undefined ? `new column ${c.name} (${type}) passed through from bronze (contract newColumns: evolve)` : `${c.name} widened from ${was} to ${type} (contract typeChanges: evolve)`);
    }
  }
  if (!window.rebuild) {
    // Quarantine keeps raw values in bronze's types: a widened bronze column widens there too.
    const quarantine = new Map((await ctx.warehouse.introspector.columns('quarantine', plan.name, tx)).map((c) => [c.name.toLowerCase(), c.type]));
    for (const c of window.bronzeColumns) {
      const was = quarantine.get(c.name.toLowerCase());
      if (was !== undefined && was !== c.type && d.widerType(was, c.type) === c.type) await tx.execute(d.alterColumnType(d.table('quarantine', plan.name), c.name, c.type));
    }
  }
  return notes;
}

/**
 * Per bronze column: the type of the first batch that carried it, and every type it came with; and bronze's first
 * version's columns (lower case), the columns a table was written against (all of them if unrecorded). One query:
 * every silver step asks both. arg_min, not ORDER BY ... LIMIT 1: the engine plans a top-N over a tiny table as a
 * join, at twice the cost of the whole query otherwise (measured 7.4 against 4.2 ms).
 */
async function bronzeColumnHistory(tx: SqlSession, source: string, current: readonly ColumnInfo[]): Promise<{ facts: Map<string, ColumnFacts>; baseline: Set<string> }> {
  const { rows } = await tx.query(
    `SELECT 'fact' AS kind, lower(column_name) AS name, column_type AS type, min(batch_id) AS first, NULL AS columns
       FROM refinery.batch_columns WHERE source = $1 GROUP BY 2, 3
     UNION ALL
     SELECT 'created', NULL, NULL, NULL, arg_min(columns, id)
       FROM refinery.schema_history WHERE table_name = $2 AND event = 'created'`,
    [source, `bronze.${source}`],
  );
  const facts = new Map<string, ColumnFacts>();
  const byArrival = rows
    .filter((r) => r.kind === 'fact')
    .map((r) => ({ name: String(r.name), type: String(r.type), first: Number(r.first) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.first - b.first || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)));
  for (const r of byArrival) {
    const had = facts.get(r.name);
    if (had) (had.types as Set<string>).add(r.type);
    else facts.set(r.name, { firstType: r.type, firstBatch: r.first, types: new Set([r.type]) });
  }
  const created = rows.find((r) => r.kind === 'created' && r.columns !== null);
  const first = created ? (JSON.parse(String(created.columns)) as ColumnInfo[]) : current;
  return { facts, baseline: new Set(first.map((c) => c.name.toLowerCase())) };
}

async function windowHas(tx: SqlSession, batchesSql: string, inWindow: string): Promise<boolean> {
  const { rows } = await tx.query(`SELECT 1 AS x FROM (${batchesSql}) b WHERE ${inWindow} LIMIT 1`);
  return rows.length > 0;
}

/** The landing file of the first batch in the window that the condition concerns. */
async function firstFile(tx: SqlSession, source: string, batchesSql: string, inWindow: string): Promise<string | undefined> {
  const { rows } = await tx.query(`SELECT path FROM refinery.batches WHERE source = $1 AND batch_id = (SELECT min(batch_id) FROM (${batchesSql}) b WHERE ${inWindow})`, [source]);
  return rows[0] ? String(rows[0].path) : undefined;
}

