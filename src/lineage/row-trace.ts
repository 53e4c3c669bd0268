import type { Plan, SilverPlan } from '../config/plan.js';
import { closest } from '../config/config-issues.js';
import { usageError } from '../errors.js';
import { replacedBatches } from '../layers/bronze-batches.js';
import { BRONZE_LINEAGE, CHANGE_LINEAGE } from '../layers/bronze-ingest.js';
import { compileCandidates, rawName } from '../layers/silver-sql.js';
import { readTableState } from '../layers/table-state.js';
import type { Row, SqlParam, Warehouse } from '../warehouse/warehouse.js';
import { buildLineageGraph, columnNode } from './column-lineage.js';

/**
 * Row lineage: which bronze rows produced a silver or gold row, and what became of every bronze row of the same
 * key — in silver, superseded by a later version, or quarantined with its reason. A bronze row's key is recomputed
 * with the silver table's own compiled rules (as `audit` does), so rows that never reached silver are found too.
 */

export interface RowRef {
  readonly batchId: number;
  readonly sourceFile: string;
  readonly sourceRow: number;
}

export type BronzeFate =
  | { readonly kind: 'in_silver' }
  | { readonly kind: 'superseded'; readonly by: RowRef }
  /** Removed by a later delete marker of its key (from a database source), before any version now in silver. */
  | { readonly kind: 'deleted'; readonly by: RowRef }
  | { readonly kind: 'quarantined'; readonly reason: string; readonly detail: string }
  /** In a batch the silver table has not processed yet. */
  | { readonly kind: 'pending' }
  /** In a batch a newer version of the same landing file (or a newer full extract) replaced. */
  | { readonly kind: 'replaced' }
  /** A delete marker from a database source: it removed its key rather than being a row. */
  | { readonly kind: 'delete_marker' }
  /** Neither in silver, quarantine, nor superseded: `refinery audit` reports it too. */
  | { readonly kind: 'unaccounted' };

export interface TracedBronzeRow extends RowRef {
  readonly table: string;
  /** The row's values exactly as received. */
  readonly raw: Readonly<Record<string, unknown>>;
  readonly fate: BronzeFate;
}

export interface SilverTrace {
  readonly table: string;
  /** What was matched, e.g. `{ customer_id: '1001' }`. */
  readonly match: Readonly<Record<string, string>>;
  /** The rows silver holds for it now. */
  readonly rows: readonly Row[];
  /** Every bronze row that computes to it (and every version of the same key), oldest first. */
  readonly bronze: readonly TracedBronzeRow[];
}

export interface TraceReport {
  readonly table: string;
  readonly match: Readonly<Record<string, string>>;
  /** The rows of the traced table itself (for gold: the gold rows). */
  readonly rows: readonly Row[];
  /** How a gold key leads to silver columns, in words. */
  readonly via: readonly string[];
  readonly silver: readonly SilverTrace[];
  readonly warnings: readonly string[];
}

/** A condition on one typed column: equal, as text, to a value; or among the values a subquery returns. */
type Match = { readonly column: string; readonly value: string } | { readonly column: string; readonly in: string; readonly params: readonly SqlParam[]; readonly shown: string };

export async function traceRow(plan: Plan, warehouse: Warehouse, table: string, values: readonly string[], column?: string): Promise<TraceReport> {
  const [layer, name] = table.split('.', 2) as [string, string | undefined];
  const silver = layer === 'silver' ? plan.silver.find((s) => s.name === name) : undefined;
  const gold = layer === 'gold' ? plan.gold.find((g) => g.name === name) : undefined;
  if (!silver && !gold) {
    const names = [...plan.silver.map((s) => `silver.${s.name}`), ...plan.gold.map((g) => `gold.${g.name}`)];
    const suggestion = closest(table, names);
    throw usageError({ code: 'unknown_table', value: table, message: `There is no silver or gold table '${table}' to trace.`, allowed: names.join(', '), hint: suggestion ? `Did you mean '${suggestion}'?` : 'Trace a silver or gold table, e.g. silver.customers.' });
  }
  if (silver) {
    const columns = column ? [column] : silver.key;
    const known = silver.columns.map((c) => c.name);
    for (const c of columns) if (!known.includes(c)) throw unknownColumn(table, c, known);
    if (columns.length === 0) throw usageError({ code: 'no_key', table, message: `has no key, so --key needs --column to say which column to match.`, allowed: known.join(', '), hint: `Run e.g. refinery trace ${table} --column ${known[0] ?? '<column>'} --key <value>.` });
    if (values.length !== columns.length) {
      throw usageError({ code: 'key_arity', table, value: values, message: `is keyed by ${columns.join(' + ')}: give ${columns.length} value${columns.length > 1 ? 's' : ''} (--key once per column, in that order), not ${values.length}.`, hint: `Run e.g. refinery trace ${table} ${columns.map((c) => `--key <${c}>`).join(' ')}.` });
    }
    const matches = columns.map((c, i) => ({ column: c, value: values[i] as string }));
    const trace = await traceSilver(warehouse, silver, matches);
    if (trace.bronze.length === 0 && trace.rows.length === 0) throw notFound(table, matches);
    return { table, match: trace.match, rows: trace.rows, via: [], silver: [trace], warnings: [] };
  }
  return traceGold(plan, warehouse, table, values, column);
}

async function traceGold(plan: Plan, warehouse: Warehouse, table: string, values: readonly string[], column?: string): Promise<TraceReport> {
  const d = warehouse.dialect;
  const [, name] = table.split('.', 2) as [string, string];
  const columns = (await warehouse.introspector.columns('gold', name)).map((c) => c.name);
  if (columns.length === 0) throw usageError({ code: 'table_not_built', table, message: `has not been built yet.`, hint: 'Run `refinery run` first.' });
  const keyColumn = column ?? (columns[0] as string);
  if (!columns.includes(keyColumn)) throw unknownColumn(table, keyColumn, columns);
  if (values.length !== 1) throw usageError({ code: 'key_arity', value: values, message: `Give one --key value for ${table}.${keyColumn}, not ${values.length}.`, hint: `Run e.g. refinery trace ${table} --key <${keyColumn}>.` });
  const value = values[0] as string;
  const where = `CAST(${d.quoteIdent(keyColumn)} AS VARCHAR) = $1`;
  const { rows } = await warehouse.query(`SELECT * FROM ${d.table('gold', name)} WHERE ${where}`, [value]);
  if (rows.length === 0) throw notFound(table, [{ column: keyColumn, value }]);

  // Follow the key through identity edges (a copied column) and equi-joins, until silver columns are reached.
  const graph = await buildLineageGraph(plan, warehouse);
  const via: string[] = [];
  const warnings: string[] = [];
  const reached = new Set<string>();
  const silverColumns: string[] = [];
  const queue = [columnNode(table, keyColumn)];
  while (queue.length > 0) {
    const node = queue.shift() as string;
    if (reached.has(node)) continue;
    reached.add(node);
    if (node.startsWith('silver.')) {
      silverColumns.push(node);
      for (const step of graph.steps) {
        for (const [a, b] of step.equalities) {
          const other = a === node ? b : b === node ? a : undefined;
          if (other && !reached.has(other)) {
            via.push(`${other} = ${node} (a join in ${step.step})`);
            queue.push(other);
          }
        }
      }
      continue;
    }
    const direct = graph.edges.filter((e) => e.to === node && e.kind === 'direct');
    if (direct.length === 0) warnings.push(`${node} is not made from any column (a constant chosen by a condition, or computed from rows only), so rows cannot be matched to it by value`);
    for (const e of direct) {
      if (e.transformation === 'identity') {
        via.push(`${node} is ${e.from} (identity)`);
        queue.push(e.from);
      } else warnings.push(`${node} is computed from ${e.from} (${e.transformation}), so rows cannot be matched to it by value`);
    }
  }
  const goldValues = { in: `SELECT ${d.quoteIdent(keyColumn)} FROM ${d.table('gold', name)} WHERE ${where}`, params: [value], shown: value };
  const silver: SilverTrace[] = [];
  for (const node of silverColumns) {
    const [, tableName, columnName] = node.split('.') as [string, string, string];
    const plan_ = plan.silver.find((s) => s.name === tableName);
    if (plan_) silver.push(await traceSilver(warehouse, plan_, [{ column: columnName, ...goldValues }]));
  }
  return { table, match: { [keyColumn]: value }, rows, via: [...new Set(via)], silver, warnings };
}

/** Every bronze row whose recomputed values match, plus every version of the keys they have, each with its fate. */
export async function traceSilver(warehouse: Warehouse, table: SilverPlan, matches: readonly Match[]): Promise<SilverTrace> {
  const d = warehouse.dialect;
  const q = (n: string): string => d.quoteIdent(n);
  const step = `silver.${table.name}`;
  const match = Object.fromEntries(matches.map((m) => [m.column, 'value' in m ? m.value : m.shown]));
  const params: SqlParam[] = [];
  const condition = (alias: string): string =>
    matches
      .map((m) => {
        if ('value' in m) {
          params.push(m.value);
          return `CAST(${alias}.${q(m.column)} AS VARCHAR) = $${params.length}`;
        }
        const at = params.length;
        params.push(...m.params);
        return `${alias}.${q(m.column)} IN (${m.in.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + at}`)})`;
      })
      .join(' AND ');
  const silverExists = await warehouse.introspector.tableExists('silver', table.name);
  const silverRows = silverExists ? (await warehouse.query(`SELECT * FROM ${d.table('silver', table.name)} s WHERE ${condition('s')} ORDER BY ALL`, params.splice(0))).rows : [];

  const bronzeAll = await warehouse.introspector.columns('bronze', table.source);
  if (bronzeAll.length === 0) return { table: step, match, rows: silverRows, bronze: [] };
  const lineage = new Set<string>([...BRONZE_LINEAGE, ...CHANGE_LINEAGE]);
  const bronzeColumns = bronzeAll.filter((c) => !lineage.has(c.name));
  const hasOp = bronzeAll.some((c) => c.name === '_op');
  const last = (await readTableState(warehouse, step))?.lastBatchId ?? 0;
  const replaced = new Set(await replacedBatches(warehouse, table.source));
  const candidates = compileCandidates(d, { table, bronzeColumns, hasOp, batches: { after: 0, upTo: Number.MAX_SAFE_INTEGER } });
  const keys = table.key.map(q);
  const quarantineExists = await warehouse.introspector.tableExists('quarantine', table.name);
  const silverT = silverExists ? d.table('silver', table.name) : `(SELECT NULL::BIGINT AS _batch_id, NULL::BIGINT AS _source_row, NULL::VARCHAR AS _source_file${table.key.map((k) => `, NULL AS ${q(k)}`).join('')} WHERE FALSE)`;
  const quarantineT = quarantineExists ? d.table('quarantine', table.name) : `(SELECT NULL::BIGINT AS _batch_id, NULL::BIGINT AS _source_row, NULL::VARCHAR AS _reason, NULL::VARCHAR AS _detail WHERE FALSE)`;
  const sameKey = (a: string, b: string): string => keys.map((k) => `${a}.${k} = ${b}.${k}`).join(' AND ');
  // The first delete marker of the same key that arrived after a row: what removed it, if nothing newer is in silver.
  const deletes = keys.length > 0 && hasOp;
  const after = (a: string, b: string): string => `(${a}._batch_id > ${b}._batch_id OR (${a}._batch_id = ${b}._batch_id AND ${a}._source_row > ${b}._source_row))`;
  const history = keys.length > 0 ? ` OR EXISTS (SELECT 1 FROM m WHERE ${keys.map((k) => `m.${k} IS NOT NULL`).join(' AND ')} AND ${sameKey('m', 'c')})` : '';
  const sql = `WITH c AS (${candidates}),
  m AS (SELECT * FROM c WHERE ${condition('c')})
  SELECT c._batch_id, c._source_file, c._source_row, c._reason AS would_reason, ${hasOp ? "coalesce(c._op, '') = 'delete'" : 'FALSE'} AS is_delete,
    ${bronzeColumns.map((b) => `c.${q(rawName(b.name))} AS ${q(`raw:${b.name}`)}`).join(', ')},
    s._batch_id IS NOT NULL AS in_silver, q._reason AS q_reason, q._detail AS q_detail,
    ${keys.length > 0 ? 'w._batch_id AS w_batch, w._source_file AS w_file, w._source_row AS w_row' : 'NULL AS w_batch, NULL AS w_file, NULL AS w_row'},
    ${deletes ? 'x._batch_id AS x_batch, x._source_file AS x_file, x._source_row AS x_row' : 'NULL AS x_batch, NULL AS x_file, NULL AS x_row'}
  FROM c
  LEFT JOIN ${silverT} s ON s._batch_id = c._batch_id AND s._source_row = c._source_row
  LEFT JOIN ${quarantineT} q ON q._batch_id = c._batch_id AND q._source_row = c._source_row
  ${keys.length > 0 ? `LEFT JOIN (SELECT DISTINCT ON (${keys.join(', ')}) * FROM ${silverT} ORDER BY ${keys.join(', ')}, _batch_id DESC, _source_row DESC) w ON ${sameKey('w', 'c')}` : ''}
  ${deletes ? `LEFT JOIN LATERAL (SELECT dm._batch_id, dm._source_file, dm._source_row FROM c dm WHERE coalesce(dm._op, '') = 'delete' AND ${sameKey('dm', 'c')} AND ${after('dm', 'c')} ORDER BY dm._batch_id, dm._source_row LIMIT 1) x ON TRUE` : ''}
  WHERE ${condition('c')}${history}
  ORDER BY c._batch_id, c._source_file, c._source_row`;
  const { rows } = await warehouse.query(sql, params);
  const bronze = rows.map((r): TracedBronzeRow => {
    const ref = { batchId: Number(r._batch_id), sourceFile: String(r._source_file), sourceRow: Number(r._source_row) };
    const raw = Object.fromEntries(bronzeColumns.map((b) => [b.name, r[`raw:${b.name}`] ?? null]));
    let fate: BronzeFate;
    if (r.in_silver === true) fate = { kind: 'in_silver' };
    else if (r.q_reason !== null && r.q_reason !== undefined) fate = { kind: 'quarantined', reason: String(r.q_reason), detail: String(r.q_detail ?? '') };
    else if (replaced.has(ref.batchId)) fate = { kind: 'replaced' };
    else if (ref.batchId > last || !silverExists) fate = { kind: 'pending' };
    else if (r.is_delete === true) fate = { kind: 'delete_marker' };
    else if (r.would_reason === null && r.x_batch !== null && r.x_batch !== undefined && (r.w_batch === null || r.w_batch === undefined || earlier(r.x_batch, r.x_row, r.w_batch, r.w_row))) {
      fate = { kind: 'deleted', by: { batchId: Number(r.x_batch), sourceFile: String(r.x_file), sourceRow: Number(r.x_row) } };
    } else if (r.would_reason === null && r.w_batch !== null && r.w_batch !== undefined) fate = { kind: 'superseded', by: { batchId: Number(r.w_batch), sourceFile: String(r.w_file), sourceRow: Number(r.w_row) } };
    else fate = { kind: 'unaccounted' };
    return { table: `bronze.${table.source}`, ...ref, raw, fate };
  });
  return { table: step, match, rows: silverRows, bronze };
}

/** Batch and row (a, b) arrived before (c, d). */
function earlier(a: unknown, b: unknown, c: unknown, d: unknown): boolean {
  return Number(a) < Number(c) || (Number(a) === Number(c) && Number(b) < Number(d));
}

function unknownColumn(table: string, column: string, known: readonly string[]): Error {
  const suggestion = closest(column, known);
  return usageError({ code: 'unknown_column', table, column, value: column, message: `has no column '${column}'.`, allowed: known.join(', '), hint: suggestion ? `Did you mean '${suggestion}'?` : 'Pass --column <one of its columns>.' });
}

function notFound(table: string, matches: readonly { column: string; value: string }[]): Error {
  const what = matches.map((m) => `${m.column} = '${m.value}'`).join(' and ');
  return usageError({ code: 'key_not_found', value: matches.map((m) => m.value), message: `No row of ${table} (nor any bronze row that would become one) has ${what}.`, hint: `See its rows with \`refinery show ${table}\`.` });
}
