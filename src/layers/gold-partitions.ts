import type { GoldPlan, PartitionPlan } from '../config/plan.js';
import { partitionLogKey } from '../config/schema-config.js';
import type { SqlDialect, SqlSession } from '../warehouse/warehouse.js';
import type { StepContext } from '../orchestrator/run-context.js';
import { logEverything, touchedPartitionsSince } from './change-log.js';
import { formatCount, plural } from '../text.js';

export type PartitionRefresh =
  | { readonly kind: 'refreshed'; readonly partitions: readonly string[]; readonly removed: number; readonly written: number; readonly message: string }
  | { readonly kind: 'rebuild'; readonly reason: string };

/** The SQL of a partition level over a row's columns: the named expression, or the column itself. */
export function partitionExpr(d: SqlDialect, p: PartitionPlan): string {
  return p.sql ? `(${p.sql})` : d.quoteIdent(p.name);
}

/** `name=value/...` for a row of partition values (text, NULL as null): how Hive names the directory. */
export function partitionLabel(partitions: readonly PartitionPlan[], values: readonly (string | null)[]): string {
  return partitions.map((p, i) => `${p.name}=${values[i] ?? '__HIVE_DEFAULT_PARTITION__'}`).join('/');
}

/**
 * insert_overwrite for a partitioned gold model: the silver tables it reads logged the partition values of every
 * row they touched (old and new versions), so only those partitions are recomputed — their rows deleted and
 * inserted again from the model's SELECT filtered to them. Any input that cannot say which partitions it touched
 * (a rebuild, a table without the partition's columns) asks for a rebuild instead.
 */
export async function refreshTouchedPartitions(ctx: StepContext, tx: SqlSession, model: GoldPlan, sql: string, before: string, after: string): Promise<PartitionRefresh> {
  const d = ctx.warehouse.dialect;
  const previous = JSON.parse(before) as Record<string, number>;
  const current = JSON.parse(after) as Record<string, number>;
  const touched = model.partitionBy.map(() => new Set<string | null>());
  for (const table of Object.keys(current)) {
    if (previous[table] === current[table]) continue;
    const silver = table.startsWith('silver.') ? ctx.plan.silver.find((s) => `silver.${s.name}` === table) : undefined;
    const logged = new Set(silver?.downstreamKeys.map((k) => (typeof k === 'string' ? k : k.name)) ?? []);
    if (!model.partitionBy.every((p) => logged.has(partitionLogKey(p)))) return { kind: 'rebuild', reason: `${table} changed and cannot say which partitions it touched (the partition needs columns it lacks), so every partition is recomputed` };
    for (const [i, p] of model.partitionBy.entries()) {
      const values = await touchedPartitionsSince(tx, table, partitionLogKey(p), previous[table] ?? 0);
      if (values === 'all') return { kind: 'rebuild', reason: `${table} was rebuilt, so every partition is recomputed` };
      for (const v of values) touched[i]?.add(v);
    }
  }
  if (touched.every((t) => t.size === 0)) return { kind: 'refreshed', partitions: [], removed: 0, written: 0, message: 'inputs changed but touched no partition: nothing to recompute' };
  // Each level's touched values: a row is recomputed when every level of its partition was touched.
  const condition = model.partitionBy
    .map((p, i) => {
      const values = [...(touched[i] ?? [])];
      const listed = values.filter((v): v is string => v !== null);
      const parts = [listed.length > 0 ? `CAST(${partitionExpr(d, p)} AS VARCHAR) IN (${listed.map((v) => d.literal(v)).join(', ')})` : undefined, values.includes(null) ? `${partitionExpr(d, p)} IS NULL` : undefined];
      return `(${parts.filter(Boolean).join(' OR ')})`;
    })
    .join(' AND ');
  const target = d.table('gold', model.name);
  const labels = `SELECT DISTINCT ${model.partitionBy.map((p, i) => `CAST(${partitionExpr(d, p)} AS VARCHAR) AS p${i}`).join(', ')}`;
  const { rows: old } = await tx.query(`${labels} FROM ${target} WHERE ${condition}`);
  const removed = await tx.execute(`DELETE FROM ${target} WHERE ${condition}`);
  const written = await tx.execute(`INSERT INTO ${target} SELECT * FROM (${sql}) AS model WHERE ${condition}`);
  const { rows: now } = await tx.query(`${labels} FROM ${target} WHERE ${condition}`);
  const partitions = [...new Set([...old, ...now].map((r) => partitionLabel(model.partitionBy, model.partitionBy.map((_, i) => (r[`p${i}`] === null ? null : String(r[`p${i}`]))))))].sort();
  // Keyed models downstream recompute everything after this one: partitions are not their keys.
  await logEverything(tx, `gold.${model.name}`, ctx.runId);
  return {
    kind: 'refreshed',
    partitions,
    removed,
    written,
    message: `recomputed ${plural(partitions.length, 'partition')} (${partitions.join(', ') || 'none left'}): ${plural(removed, 'row')} replaced, ${formatCount(written)} written`,
  };
}
