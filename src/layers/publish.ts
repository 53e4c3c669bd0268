import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { PublishPlan, StepPlan } from '../config/plan.js';
import { pipelineError } from '../errors.js';
import type { StepContext, StepOutcome } from '../orchestrator/run-context.js';
import { partitionExpr } from './gold-partitions.js';
import { readTableState } from './table-state.js';

/**
 * Publishing a table as Hive-partitioned Parquet (`<path>/<name>=<value>/data_0.parquet`) after its step, for
 * DuckDB, Spark or pandas to read as it is. Only partitions whose rows changed are rewritten: each partition's
 * rows are fingerprinted in the engine (a count and an order-independent sum of row hashes), compared with the
 * fingerprints stored in refinery.published_partitions, and only the differing ones are written — into a staging
 * directory beside the target, then moved into place one directory at a time. Partitions that became empty are
 * removed. A run killed midway leaves the stored fingerprints behind the files, so the next run rewrites what it
 * must; readers never see a half-written file in the published tree.
 */
export async function publishAfterStep(ctx: StepContext, step: StepPlan, outcome: StepOutcome): Promise<StepOutcome> {
  if (outcome.status !== 'success' && outcome.status !== 'skipped') return outcome;
  const publish = publicationOf(ctx, step);
  if (!publish) return outcome;
  const { warehouse } = ctx;
  const d = warehouse.dialect;
  const table = `${step.kind}.${step.table}`;
  const columns = await warehouse.introspector.columns(step.kind, step.table);
  if (columns.length === 0) return outcome;
  const clash = publish.partitionBy.find((p) => p.sql && columns.some((c) => c.name.toLowerCase() === p.name.toLowerCase()));
  if (clash) {
    throw pipelineError({
      code: 'publish_partition_name',
      step: step.name,
      table,
      column: clash.name,
      message: `${table} cannot be published partitioned by ${clash.name} = ${clash.sql}: it already has a column ${clash.name}.`,
      hint: `Give the expression another name under publish.partitionBy (or the table's partitionBy).`,
    });
  }
  const settings = JSON.stringify({ format: publish.format, dir: publish.dir, partitionBy: publish.partitionBy });
  const version = String(step.kind === 'bronze' ? await maxBatch(ctx, step.table) : ((await readTableState(warehouse, table))?.version ?? 0));
  const { rows: pubRows } = await warehouse.query(`SELECT settings, table_version FROM refinery.publications WHERE table_name = $1`, [table]);
  const { rows: stored } = await warehouse.query(`SELECT partition_key, directory, fingerprint, rows, run_id, written_at FROM refinery.published_partitions WHERE table_name = $1`, [table]);
  const sameSettings = pubRows[0]?.settings === settings;
  const allThere = stored.every((r) => existsSync(join(publish.dir, String(r.directory))));
  if (sameSettings && pubRows[0]?.table_version === version && allThere && stored.length > 0) return outcome;

  // Fingerprint every partition in one pass over the table.
  const exprs = publish.partitionBy.map((p) => partitionExpr(d, p));
  const keys = exprs.map((e, i) => `CAST(${e} AS VARCHAR) AS p${i}`);
  const { rows: current } = await warehouse.query(
    `SELECT ${[...keys, 'count(*) AS n', `${d.setFingerprint(columns.map((c) => d.quoteIdent(c.name)))} AS f`].join(', ')} FROM ${d.table(step.kind, step.table)}${exprs.length > 0 ? ` GROUP BY ${exprs.map((_, i) => i + 1).join(', ')}` : ''}`,
  );
  const valuesOf = (r: Record<string, unknown>): (string | null)[] => exprs.map((_, i) => (r[`p${i}`] === null ? null : String(r[`p${i}`])));
  const now = new Map(current.filter((r) => Number(r.n) > 0).map((r) => [JSON.stringify(valuesOf(r)), { values: valuesOf(r), fingerprint: String(r.f), rows: Number(r.n) }]));
  const before = new Map(sameSettings ? stored.map((r) => [String(r.partition_key), r]) : []);
  const changed = [...now.entries()].filter(([key, p]) => {
    const had = before.get(key);
    return !had || String(had.fingerprint) !== p.fingerprint || !existsSync(join(publish.dir, String(had.directory)));
  });
  // With new settings every old directory goes; otherwise only those of partitions that no longer have rows.
  const removed = sameSettings ? stored.filter((r) => !now.has(String(r.partition_key))) : stored;

  const written = new Map<string, string>();
  if (changed.length > 0) {
    const staging = join(dirname(publish.dir), `.${basename(publish.dir)}.staging-${ctx.runId}`);
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(dirname(staging), { recursive: true });
    const chosen = changed.map(([, p]) => `(${p.values.map((v) => d.literal(v)).join(', ') || 'NULL'})`).join(', ');
    const match = exprs.length === 0 ? 'TRUE' : `(${exprs.map((e) => `CAST(${e} AS VARCHAR)`).join(', ')}) IN (${chosen})`;
    const nullSafe = exprs.length === 0 ? '' : publish.partitionBy.map((p, i) => (changed.some(([, c]) => c.values[i] === null) ? ` OR ${exprs[i]} IS NULL` : '')).join('');
    const extra = publish.partitionBy.flatMap((p, i) => (p.sql ? [`${exprs[i]} AS ${d.quoteIdent(p.name)}`] : []));
    const sql = `SELECT ${['t.*', ...extra].join(', ')} FROM ${d.table(step.kind, step.table)} AS t WHERE ${match}${nullSafe}`;
    try {
      const partitions = await warehouse.exporter.writePartitionedParquet(warehouse, { sql, dir: staging, partitionBy: publish.partitionBy.map((p) => p.name) });
      for (const p of partitions) {
        const key = JSON.stringify(p.values);
        // Only partitions chosen for rewriting move; the filter above is wider when NULLs are involved.
        if (!changed.some(([k]) => k === key)) continue;
        const target = join(publish.dir, p.directory);
        rmSync(target, { recursive: true, force: true });
        mkdirSync(dirname(target), { recursive: true });
        renameSync(join(staging, p.directory), target);
        written.set(key, p.directory);
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  for (const r of removed) if (!written.has(String(r.partition_key))) removeDirectory(publish.dir, String(r.directory));

  const at = ctx.clock.now();
  await warehouse.transaction(async (tx) => {
    await tx.execute(`DELETE FROM refinery.published_partitions WHERE table_name = $1`, [table]);
    for (const [key, p] of now) {
      const directory = written.get(key) ?? (before.get(key)?.directory as string | undefined);
      // A partition that should have been written but was not (its directory name did not decode to its values)
      // is stored without a fingerprint, so the next run tries again.
      const fingerprint = written.has(key) || before.get(key)?.fingerprint === p.fingerprint ? p.fingerprint : '';
      if (directory === undefined) continue;
      const had = before.get(key);
      await tx.execute(
        `INSERT INTO refinery.published_partitions (table_name, partition_key, directory, fingerprint, rows, run_id, written_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [table, key, directory, fingerprint, p.rows, written.has(key) ? ctx.runId : Number(had?.run_id ?? ctx.runId), written.has(key) || !had ? at : (had.written_at as Date)],
      );
    }
    await tx.execute(`DELETE FROM refinery.publications WHERE table_name = $1`, [table]);
    await tx.execute(`INSERT INTO refinery.publications (table_name, settings, table_version, run_id, published_at) VALUES ($1, $2, $3, $4, $5)`, [table, settings, version, ctx.runId, at]);
  });

  const rewritten = [...written.values()].sort();
  const gone = removed.filter((r) => !written.has(String(r.partition_key))).map((r) => String(r.directory)).sort();
  const label = (dirs: readonly string[]): string => dirs.map((x) => x || '(the whole table)').join(', ');
  const words = `published to ${publish.path}: ${rewritten.length === 0 ? 'no partition changed' : `rewrote ${rewritten.length} of ${now.size} partition${now.size === 1 ? '' : 's'} (${label(rewritten)})`}${gone.length > 0 ? `, removed ${gone.length} now empty (${label(gone)})` : ''}`;
  const message = outcome.message ? `${outcome.message}; ${words}` : words;
  await warehouse.execute(`UPDATE refinery.steps SET message = $1 WHERE run_id = $2 AND step = $3`, [message, ctx.runId, step.name]);
  return { ...outcome, message, partitions: { ...outcome.partitions, published: { path: publish.path, rewritten, removed: gone, unchanged: now.size - rewritten.length } } };
}

function publicationOf(ctx: StepContext, step: StepPlan): PublishPlan | undefined {
  const { plan } = ctx;
  if (step.kind === 'bronze') {
    const source = plan.sources.find((s) => s.name === step.table);
    return source && 'publish' in source ? source.publish : undefined;
  }
  if (step.kind === 'silver') return plan.silver.find((s) => s.name === step.table)?.publish;
  if (step.kind === 'gold') return plan.gold.find((g) => g.name === step.table)?.publish;
  return undefined;
}

async function maxBatch(ctx: StepContext, source: string): Promise<number> {
  const { rows } = await ctx.warehouse.query(`SELECT coalesce(max(batch_id), 0) AS m FROM refinery.batches WHERE source = $1`, [source]);
  return Number(rows[0]?.m ?? 0);
}

/** Removes a partition directory and the parent levels it leaves empty, never the publication root itself. */
function removeDirectory(root: string, directory: string): void {
  if (directory === '') return;
  rmSync(join(root, directory), { recursive: true, force: true });
  let parent = dirname(directory);
  while (parent !== '.' && parent !== '') {
    const full = join(root, parent);
    if (!existsSync(full) || readdirSync(full).length > 0) break;
    rmdirSync(full);
    parent = dirname(parent);
  }
}
