import { rmSync } from 'node:fs';
import type { FileSourcePlan, HttpSourcePlan } from '../config/plan.js';
import { RefineryError } from '../errors.js';
import { BRONZE_LINEAGE, CHANGE_LINEAGE, ensureBronzeTable, ingestFile, Refusal } from '../layers/bronze-ingest.js';
import { emptyOutcome, type StepContext, type StepOutcome } from '../orchestrator/run-context.js';
import { authSecret, HttpClient } from '../sources/http/http-client.js';
import { extractPages, type HttpExtract } from '../sources/http/http-extract.js';
import type { SqlSession } from '../warehouse/warehouse.js';
import { extractPath } from './extract-files.js';
import { readSourceState, writeSourceState } from './source-state.js';

/**
 * HTTP API → bronze. The API is read page by page into a JSON Lines extract, which is then staged exactly like a
 * landing .jsonl file (same reader, same row numbers, same lineage) and committed as one batch together with the
 * source's watermark. `full` reads everything each run (the batch replaces the earlier ones downstream); `cursor`
 * sends the stored watermark as a query parameter and keeps the greatest value of a record field as the next one.
 */
export async function ingestHttp(ctx: StepContext, source: HttpSourcePlan): Promise<StepOutcome> {
  const step = `bronze.${source.name}`;
  const started = ctx.clock.now();
  const client = new HttpClient(source, ctx.clock, ctx.signal, authSecret(source));
  const cursor = source.load.strategy === 'cursor' ? { param: source.load.param as string, field: source.load.field as string } : undefined;
  const state = await readSourceState(ctx.warehouse, source.name);
  const watermark = cursor ? (state.get('watermark') ?? source.load.since) : undefined;
  const file = extractPath(ctx, source.name, 'jsonl');
  let rows: number;
  let message: string;
  let extract: HttpExtract;
  try {
    extract = await extractPages(client, source, cursor && watermark !== undefined ? { [cursor.param]: watermark } : {}, file, (pages, records) =>
      ctx.progress({ type: 'step-detail', step, detail: `${pages} page${pages === 1 ? '' : 's'}, ${records} records` }),
    );
    const label = `GET ${extract.request} (${extract.pages} page${extract.pages === 1 ? '' : 's'})`;
    if (extract.records === 0 && cursor) {
      rows = 0;
      message = `cursor ${cursor.field}: no new records; watermark ${watermark ?? '(none)'}`;
    } else {
      const result = await ctx.warehouse.transaction(async (tx) => {
        if (extract.records === 0) return { rows: await emptyFullBatch(ctx, tx, source, label, extract), next: undefined };
        const filePlan: FileSourcePlan = { kind: 'files', name: source.name, path: source.url, format: 'jsonl', requiredColumns: [], csv: { delimiter: ',', quote: '"', escape: '"', encoding: 'utf-8' } };
        const facts = { sha256: extract.sha256, bytes: extract.bytes, scan: undefined, previousBatchId: undefined, size: extract.bytes, mtime: 0, settings: '' };
        const loaded = await ingestFile(ctx, tx, filePlan, label, file, facts, { loadKind: source.load.strategy, recordFile: false });
        if (!cursor) return { rows: loaded.rows, next: undefined };
        const next = (await greatest(ctx, tx, source, cursor.field, loaded.batchId)) ?? watermark;
        const kept = await dropReread(ctx, tx, source, loaded.batchId, loaded.rows);
        if (next !== undefined) await writeSourceState(tx, source.name, { watermark: next }, ctx.clock.now());
        return { rows: kept, next };
      }, { signal: ctx.signal });
      rows = result.rows;
      message = cursor
        ? `cursor ${cursor.field}: ${rows} new or changed records of ${extract.records} read (${extract.pages} page${extract.pages === 1 ? '' : 's'}); watermark ${watermark ?? '(none)'} → ${result.next ?? '(none)'}`
        : `full extract: ${rows} records (${extract.pages} page${extract.pages === 1 ? '' : 's'})`;
    }
  } catch (error) {
    if (error instanceof Refusal) {
      throw new RefineryError('pipeline', {
        code: 'http_records_refused',
        step,
        message: `The records from ${source.url} cannot be loaded into bronze.${source.name}: ${error.reason}.`,
        hint: 'Fix the field names at the API (or pick another records path); nothing was loaded.',
      });
    }
    throw error;
  } finally {
    rmSync(file, { force: true });
  }
  const ended = ctx.clock.now();
  const status = rows > 0 ? 'success' : 'skipped';
  const outcome: StepOutcome = { ...emptyOutcome(step, 'bronze'), reads: 'http', status, rowsIn: rows, rowsWritten: rows, message, durationMs: ended.getTime() - started.getTime() };
  ctx.records.add({
    runId: ctx.runId, step, kind: 'bronze', status, startedAt: started, endedAt: ended, rowsIn: rows, rowsWritten: rows, rowsQuarantined: 0, rowsSuperseded: 0, rowsWarned: 0, attempts: ctx.attempt, message,
    details: { strategy: source.load.strategy, source: `GET ${extract.request}`, pages: extract.pages, recordsRead: extract.records },
  });
  return outcome;
}

/** A full extract with no records still says so: its (empty) batch replaces the earlier ones downstream. */
async function emptyFullBatch(ctx: StepContext, tx: SqlSession, source: HttpSourcePlan, label: string, extract: HttpExtract): Promise<number> {
  const { batchId } = await ensureBronzeTable(ctx, tx, source.name, { columns: [] });
  await tx.execute(
    `INSERT INTO refinery.batches (batch_id, source, path, content_hash, size_bytes, rows, rejected_rows, run_id, ingested_at, previous_batch_id, load_kind) VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7, NULL, 'full')`,
    [batchId, source.name, label, extract.sha256, extract.bytes, ctx.runId, ctx.runStartedAt],
  );
  return 0;
}

/**
 * The next watermark: the greatest value of the cursor field in this batch, compared as a number or a time when the
 * values are numbers or times, and kept as the API wrote it (it goes back to the API as it came).
 */
async function greatest(ctx: StepContext, tx: SqlSession, source: HttpSourcePlan, field: string, batchId: number): Promise<string | undefined> {
  const d = ctx.warehouse.dialect;
  const columns = (await ctx.warehouse.introspector.columns('bronze', source.name, tx)).map((c) => c.name);
  if (!columns.includes(field)) {
    throw new RefineryError('pipeline', {
      code: 'http_cursor_field_missing',
      step: `bronze.${source.name}`,
      path: `sources.${source.name}.load.field`,
      value: field,
      message: `The records of ${source.url} have no field '${field}' to take the next watermark from.`,
      allowed: columns.filter((c) => !c.startsWith('_')).join(', '),
      hint: 'Name a top-level field of each record that grows with every change, e.g. updated_at.',
    });
  }
  const f = d.quoteIdent(field);
  const { rows } = await tx.query(
    `SELECT ${f} AS v FROM ${d.table('bronze', source.name)} WHERE _batch_id = $1 AND ${f} IS NOT NULL
     ORDER BY ${d.parse(f, 'double')} DESC NULLS LAST, ${d.parse(f, 'timestamp')} DESC NULLS LAST, ${f} DESC LIMIT 1`,
    [batchId],
  );
  return rows[0]?.v === undefined || rows[0]?.v === null ? undefined : String(rows[0].v);
}

/**
 * Records on the watermark are read again (APIs filter with ≥, and several records can share a timestamp): those
 * already in bronze with the same values in every field are dropped from this batch. Fields are compared over the
 * whole bronze table, so a field one extract has and another lacks counts as null in both (JSON APIs often leave
 * out empty fields), which a per-file row hash would not see.
 */
async function dropReread(ctx: StepContext, tx: SqlSession, source: HttpSourcePlan, batchId: number, staged: number): Promise<number> {
  const d = ctx.warehouse.dialect;
  const bronze = d.table('bronze', source.name);
  const lineage = new Set<string>([...BRONZE_LINEAGE, ...CHANGE_LINEAGE]);
  const fields = (await ctx.warehouse.introspector.columns('bronze', source.name, tx)).map((c) => c.name).filter((c) => !lineage.has(c)).sort();
  const same = d.rowHash(fields.flatMap((c) => [d.literal(c), d.quoteIdent(c)]));
  const dropped = await tx.execute(`DELETE FROM ${bronze} WHERE _batch_id = $1 AND ${same} IN (SELECT ${same} FROM ${bronze} WHERE _batch_id < $1)`, [batchId]);
  if (dropped > 0) await tx.execute(`UPDATE refinery.batches SET rows = rows - $1 WHERE source = $2 AND batch_id = $3`, [dropped, source.name, batchId]);
  return staged - dropped;
}
