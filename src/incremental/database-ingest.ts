import { rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { DatabaseSourcePlan, PostgresSourcePlan } from '../config/plan.js';
import { errorMessage, RefineryError } from '../errors.js';
import { failpoint, faultpoint } from '../failpoints.js';
import { ensureBronzeTable } from '../layers/bronze-ingest.js';
import { EXTRACT_NULL, type CursorKind, type DatabaseExtractor, type TableColumn } from '../sources/database-extractor.js';
import { openExtractor } from '../sources/open-extractor.js';
import { CsvPartWriter } from '../sources/csv-parts.js';
import { PostgresExtractor } from '../sources/postgres/postgres-extract.js';
import { acknowledge, assertCdcTable, columnsRenamedError, dropCdcSetup, ensureCdcSetup, flushedLsn, lsnValue, publicationError, publicationProblems, resnapshotCommand, slotLostError, slotState, truncatedHint, writeChanges } from '../sources/postgres/pgoutput-changes.js';
import type { SqlDialect, SqlSession, StagedFile } from '../warehouse/warehouse.js';
import { emptyOutcome, type StepContext, type StepOutcome } from '../orchestrator/run-context.js';
import { extractPath } from './extract-files.js';
import { readSourceState, writeSourceState } from './source-state.js';
import { formatBytes, plural } from '../text.js';

/**
 * Database → bronze with a load strategy. Whatever the strategy and the engine, the rows travel the same way: the
 * server's rows are written as CSV (PostgreSQL's COPY ... TO STDOUT, MySQL's row stream, or decoded CDC changes) in
 * parts that DuckDB reads in parallel as they arrive (withStagedExtract), and one transaction commits the batch
 * together with the state that decides the next extraction (watermark, snapshot, LSN). The strategies speak to a `DatabaseExtractor`; only it knows the engine.
 */
export async function ingestDatabase(ctx: StepContext, source: DatabaseSourcePlan): Promise<StepOutcome> {
  const step = `bronze.${source.name}`;
  const started = ctx.clock.now();
  const extractor = await openExtractor(source);
  const label = extractor.label;
  // The parts of the extract (`<file>.0`, `.1`, ...) are removed by withStagedExtract as soon as they are staged.
  const file = extractPath(ctx, source.name, 'csv');
  try {
    const all = await extractor.columns();
    const columns = pickColumns(source, all);
    const state = await readSourceState(ctx.warehouse, source.name);
    let result: { rows: number; message: string; afterCommit?: () => Promise<void> };
    ctx.progress({ type: 'step-detail', step, detail: extractingFrom(source, label) });
    switch (source.load.strategy) {
      case 'full':
        result = await loadFull(ctx, extractor, source, columns, file, label);
        break;
      case 'cursor':
        result = await loadCursor(ctx, extractor, source, columns, all, file, label, state);
        break;
      case 'snapshot':
        result = await loadSnapshot(ctx, extractor, source, columns, file, label);
        break;
      case 'cdc':
        // Log-based CDC reads PostgreSQL's replication protocol: the one strategy that needs the engine itself.
        if (source.kind !== 'postgres' || !(extractor instanceof PostgresExtractor)) throw new RefineryError('config', { code: 'cdc_needs_postgres', path: `sources.${source.name}.load.strategy`, message: `The cdc strategy reads PostgreSQL's replication log; sources.${source.name} is ${source.kind}.`, hint: "Use strategy 'cursor' or 'snapshot'." });
        result = await loadCdc(ctx, extractor, source, columns, all, file, label, state);
        break;
    }
    // Acknowledged to the server only now, after the warehouse committed (see pgoutput-changes.ts).
    if (result.afterCommit) {
      failpoint('cdc:after-commit-before-ack');
      ctx.progress({ type: 'step-detail', step, detail: 'committed; acknowledging the changes to the server' });
      try {
        faultpoint('cdc:acknowledge');
        await result.afterCommit();
      } catch (error) {
        // The batch is committed, so the step did its work and what depends on it may run. The slot merely keeps
        // its WAL a while longer: the next read gets those changes again, drops them by LSN, and tells the slot then.
        result = { ...result, message: `${result.message}; committed, but telling the server failed (${errorMessage(error)}): the next run tells it` };
      }
    }
    const ended = ctx.clock.now();
    const outcome: StepOutcome = { ...emptyOutcome(step, 'bronze'), reads: 'database', status: result.rows > 0 ? 'success' : 'skipped', rowsIn: result.rows, rowsWritten: result.rows, message: result.message, durationMs: ended.getTime() - started.getTime() };
    ctx.records.add({ runId: ctx.runId, step, kind: 'bronze', status: outcome.status, startedAt: started, endedAt: ended, rowsIn: result.rows, rowsWritten: result.rows, rowsQuarantined: 0, rowsSuperseded: 0, rowsWarned: 0, attempts: ctx.attempt, message: result.message, details: { strategy: source.load.strategy, source: label } });
    return outcome;
  } finally {
    await extractor.close().catch(() => undefined);
  }
}

/** The progress line of an extraction; withStagedExtract adds how much has arrived. */
function extractingFrom(source: DatabaseSourcePlan, label: string): string {
  return `extracting from ${label} (${source.load.strategy})`;
}

function pickColumns(source: DatabaseSourcePlan, all: readonly TableColumn[]): TableColumn[] {
  if (source.columns.length === 0) return [...all];
  return source.columns.map((name) => {
    const column = all.find((c) => c.name === name);
    if (!column) {
      throw new RefineryError('config', { code: 'source_column_missing', path: `sources.${source.name}.columns`, value: name, message: `${source.table} has no column '${name}'.`, allowed: all.map((c) => c.name).join(', '), hint: 'Fix the column list.' });
    }
    return column;
  });
}

interface LoadOptions {
  readonly loadKind: string;
  readonly label: string;
  /** Extra SQL condition over the staging table `s` (e.g. drop rows already loaded). */
  readonly where?: string;
  /** The extract carries _op and _lsn columns (CDC). */
  readonly changes?: boolean;
  /** Fixed _op for every row (snapshot inserts, CDC initial snapshot). */
  readonly op?: string;
}

interface StagedExtract {
  /** The temporary table holding the extract, every column text. */
  readonly table: string;
  /** The 0-based position of a staged row in the file. */
  readonly rowIndexExpr: string;
}

/**
 * Bytes per part of an extract (see CsvPartWriter): small enough that the part still being staged when the server
 * finishes sending is a short tail, large enough that each part's fixed cost (a read_csv, a count) stays negligible.
 */
const EXTRACT_PART_BYTES = 16 << 20;

/** REFINERY_EXTRACT_PART_BYTES overrides the part size: tests cut small extracts into many parts with it. */
function extractPartBytes(): number {
  const configured = Number(process.env.REFINERY_EXTRACT_PART_BYTES);
  return Number.isSafeInteger(configured) && configured > 0 ? configured : EXTRACT_PART_BYTES;
}

/**
 * Extracts with `extract`, staging the extract as it arrives, then runs `work` in one transaction over the staged
 * rows. The extract is cut into parts (see CsvPartWriter) and each finished part is staged on the transaction's own
 * connection while the next one is still arriving: the server formatting rows and DuckDB parsing them share the
 * wait. It all happens just before BEGIN (see TransactionOptions.beforeBegin): DuckDB reads a temp table filled
 * inside the transaction at half the speed, and the staging table is scratch that needs no undoing.
 */
function withStagedExtract<E, T>(
  ctx: StepContext,
  source: DatabaseSourcePlan,
  columns: readonly TableColumn[],
  file: string,
  options: { changes?: boolean; phase: string },
  extract: (out: Writable) => Promise<E>,
  work: (tx: SqlSession, staged: StagedExtract, extracted: E) => Promise<T>,
): Promise<T> {
  let staged: StagedExtract | undefined;
  let extracted: E | undefined;
  const names = columns.map((c) => c.name);
  const step = `bronze.${source.name}`;
  return ctx.warehouse.transaction((tx) => {
    ctx.progress({ type: 'step-detail', step, detail: 'writing bronze' });
    return work(tx, staged as StagedExtract, extracted as E);
  }, {
    signal: ctx.signal,
    beforeBegin: async (session) => {
      const table = `stg_${source.name}_${ctx.runId}`;
      let staging: Promise<StagedFile | undefined> = Promise.resolve(undefined);
      let stagingError: unknown;
      let received = 0;
      let stagedRows = 0;
      const parts = new CsvPartWriter(file, {
        partBytes: extractPartBytes(),
        onPart: (part) => {
          // A long extraction shows how far it got, not one unchanging line.
          received += part.bytes;
          ctx.progress({ type: 'step-detail', step, detail: `${options.phase}: ${(received / 1e6).toFixed(0)} MB received, ${stagedRows.toLocaleString('en')} rows staged` });
          staging = staging.then(async () => {
            faultpoint('extract:stage-part', part.index);
            const result = await ctx.warehouse.files.stage(session, {
              file: part.path,
              format: 'csv',
              csv: { delimiter: ',', quote: '"', escape: '"', encoding: 'utf-8', nullString: EXTRACT_NULL },
              columns: options.changes ? [...names, '_op', '_lsn', '_unchanged'] : names,
              stagingTable: table,
              append: part.index > 0,
            });
            rmSync(part.path, { force: true });
            stagedRows = result.rows;
            return result;
          });
          // A part that cannot be staged stops the extraction: there is no point reading the rest.
          staging.catch((error: unknown) => {
            stagingError ??= error;
            parts.destroy(error instanceof Error ? error : new Error(String(error)));
          });
        },
      });
      try {
        try {
          extracted = await extract(parts);
        } catch (error) {
          // No part may be handed on after this (closeParts), and the part being staged must finish: the connection
          // must be idle before the transaction gives it up. The first failure is the one to report.
          await closeParts(parts);
          await staging.catch(() => undefined);
          throw stagingError ?? error;
        }
        ctx.progress({ type: 'step-detail', step, detail: 'staging the extract' });
        const result = await staging;
        if (result === undefined) throw new Error(`the extract of ${source.table} produced no part to stage`);
        // The extract is Refinery's own output: a line the reader refuses is a bug, never a row to drop quietly.
        const reject = result.rejects[0];
        if (reject) {
          throw new RefineryError('pipeline', {
            code: 'extract_unreadable',
            step,
            file,
            message: `${plural(result.rejects.length, 'line')} of the extract of ${source.table} could not be read back (${reject.kind}: ${reject.message}); nothing was loaded.`,
            hint: 'This is a Refinery bug: please report it with the line shown.',
            value: reject.rawLine.slice(0, 200),
          });
        }
        staged = { table, rowIndexExpr: result.rowIndexExpr };
      } finally {
        await closeParts(parts);
        for (const path of parts.paths) rmSync(path, { force: true });
      }
    },
  });
}

/**
 * Stops a part writer (a no-op once it finished) and waits until its last file is closed. Only 'close' is awaited:
 * an error the writer emits meanwhile is the extraction's, which extract() reports in its own words.
 */
async function closeParts(parts: CsvPartWriter): Promise<void> {
  if (parts.closed) return;
  const closed = new Promise<void>((resolve) => parts.once('close', () => resolve()));
  parts.destroy();
  await closed;
}

/** Appends a staged extract to bronze as one batch; returns the batch id and rows written. */
async function loadExtract(ctx: StepContext, tx: SqlSession, source: DatabaseSourcePlan, columns: readonly TableColumn[], staged: StagedExtract, options: LoadOptions): Promise<{ batchId: number; rows: number }> {
  const d = ctx.warehouse.dialect;
  const names = columns.map((c) => c.name);
  const staging = staged.table;
  const { batchId } = await ensureBronzeTable(ctx, tx, source.name, { columns: names.map((name) => ({ name, type: 'VARCHAR' })) });
  await ensureChangeColumns(ctx, tx, source.name);
  const hash = d.rowHash([...names].sort().flatMap((c) => [d.literal(c), `s.${d.quoteIdent(c)}`]));
  const op = options.changes ? 's._op' : options.op ? d.literal(options.op) : 'NULL';
  const lsn = options.changes ? 's._lsn' : 'NULL';
  // Unfiltered, the staged rows are numbered by the stager's row index (file order): no sort over a million rows,
  // which costs a quarter of the insert. Filtered, the rows kept are numbered 1..n.
  const rowNumber = options.where ? 'row_number() OVER (ORDER BY s.rowid)' : `${staged.rowIndexExpr} + 1`;
  const rows = await tx.execute(
    `INSERT INTO ${d.table('bronze', source.name)} (${[...names.map((n) => d.quoteIdent(n)), '_batch_id', '_source_file', '_source_row', '_ingested_at', '_row_hash', '_op', '_lsn'].join(', ')})
     SELECT ${names.map((n) => `s.${d.quoteIdent(n)}`).join(', ')}, $1, $2, ${rowNumber}, $3, ${hash}, ${op}, ${lsn}
     FROM ${d.quoteIdent(staging)} AS s ${options.where ? `WHERE ${options.where}` : ''}`,
    [batchId, options.label, ctx.runStartedAt],
  );
  await tx.execute(
    `INSERT INTO refinery.batches (batch_id, source, path, content_hash, size_bytes, rows, rejected_rows, run_id, ingested_at, previous_batch_id, load_kind)
     VALUES ($1, $2, $3, '', 0, $4, 0, $5, $6, NULL, $7)`,
    [batchId, source.name, options.label, rows, ctx.runId, ctx.runStartedAt, options.loadKind],
  );
  return { batchId, rows };
}

async function ensureChangeColumns(ctx: StepContext, tx: SqlSession, name: string): Promise<void> {
  const have = new Set((await ctx.warehouse.introspector.columns('bronze', name, tx)).map((c) => c.name));
  for (const column of ['_op', '_lsn']) {
    if (!have.has(column)) await tx.execute(`ALTER TABLE ${ctx.warehouse.dialect.table('bronze', name)} ADD COLUMN ${column} VARCHAR`);
  }
}

async function loadFull(ctx: StepContext, extractor: DatabaseExtractor, source: DatabaseSourcePlan, columns: TableColumn[], file: string, label: string) {
  const extract = (out: Writable) => extractor.extract({ columns: columns.map((c) => c.name) }, out);
  const { rows } = await withStagedExtract(ctx, source, columns, file, { phase: extractingFrom(source, label) }, extract, (tx, staged) => loadExtract(ctx, tx, source, columns, staged, { loadKind: 'full', label: `${label} (full extract)` }));
  return { rows, message: `full extract: ${plural(rows, 'row')}` };
}

async function loadCursor(ctx: StepContext, extractor: DatabaseExtractor, source: DatabaseSourcePlan, columns: TableColumn[], all: TableColumn[], file: string, label: string, state: Map<string, string>) {
  const cursor = source.load.cursor as string;
  const column = all.find((c) => c.name === cursor);
  if (!column) throw new RefineryError('config', { code: 'cursor_column_missing', path: `sources.${source.name}.load.cursor`, value: cursor, message: `${source.table} has no column '${cursor}' to use as a cursor.`, allowed: all.map((c) => c.name).join(', '), hint: 'Name a column that grows with each change.' });
  const kind = extractor.cursorKind(column);
  if (source.load.lagMs > 0 && kind === 'other') {
    throw new RefineryError('config', { code: 'lag_needs_time_cursor', path: `sources.${source.name}.load.lag`, message: `lag is a time window, but the cursor ${cursor} is ${column.type}.`, hint: 'Remove lag, or use a timestamp cursor.' });
  }
  if (source.load.since && (kind === 'timestamp' || kind === 'timestamptz')) checkZone(source, column, kind, source.load.since);
  const watermark = state.get('watermark') ?? source.load.since;
  const names = columns.map((c) => c.name);
  const window = { column, lagMs: source.load.lagMs, ...(watermark === undefined ? {} : { from: watermark }) };
  const d = ctx.warehouse.dialect;
  // The new watermark is the greatest cursor value among the rows read. The extract is one statement, so one
  // snapshot, in cursor order: its last row holds that value, and a row committed after it waits for the next run.
  // When the project does not extract the cursor column, the greatest value is asked for first and the extract
  // stops at it.
  const cursorExtracted = names.includes(cursor);
  const upTo = cursorExtracted ? null : await extractor.maxCursor({ columns: names, cursor: window });
  const keys = source.key.length > 0 ? source.key : columns.map((c) => c.name);
  const extract = (out: Writable) => extractor.extract({ columns: names, cursor: { ...window, ...(upTo === null ? {} : { upTo }) } }, out);
  const result = await withStagedExtract(ctx, source, columns, file, { phase: extractingFrom(source, label) }, extract, async (tx, staged) => {
    const exists = await ctx.warehouse.introspector.tableExists('bronze', source.name, tx);
    // Rows on (or behind, with lag) the old watermark are read again; the ones already in bronze are dropped by
    // key + row hash, so equal cursor values never lose or duplicate a row.
    const hash = d.rowHash([...columns.map((c) => c.name)].sort().flatMap((c) => [d.literal(c), `s.${d.quoteIdent(c)}`]));
    const where = exists && watermark !== undefined ? `NOT EXISTS (SELECT 1 FROM ${d.table('bronze', source.name)} b WHERE ${keys.map((k) => `b.${d.quoteIdent(k)} IS NOT DISTINCT FROM s.${d.quoteIdent(k)}`).join(' AND ')} AND b._row_hash = ${hash})` : undefined;
    const last = cursorExtracted ? await lastCursor(tx, d, staged, cursor) : upTo;
    const loaded = await loadExtract(ctx, tx, source, columns, staged, { loadKind: 'cursor', label: `${label} (${cursor} ≥ ${watermark ?? 'the beginning'})`, ...(where ? { where } : {}) });
    const next = last ?? watermark;
    if (next !== undefined && next !== null) await writeSourceState(tx, source.name, { watermark: next }, ctx.clock.now());
    return { ...loaded, next };
  });
  return { rows: result.rows, message: `cursor ${cursor}: ${plural(result.rows, 'new or changed row')}; watermark ${watermark ?? '(none)'} → ${result.next ?? '(none)'}` };
}

/** The cursor value of the last staged row that has one: the greatest read, as the server printed it. */
async function lastCursor(tx: SqlSession, d: SqlDialect, staged: StagedExtract, cursor: string): Promise<string | null> {
  const column = d.quoteIdent(cursor);
  const { rows } = await tx.query(`SELECT ${column} AS v FROM ${d.quoteIdent(staged.table)} WHERE ${column} IS NOT NULL ORDER BY ${staged.rowIndexExpr} DESC LIMIT 1`);
  const value = rows[0]?.v;
  return value === undefined || value === null ? null : String(value);
}

function checkZone(source: DatabaseSourcePlan, column: TableColumn, kind: CursorKind, value: string): void {
  const aware = /(Z|[+-]\d\d(:?\d\d)?)$/.test(value.trim());
  const columnAware = kind === 'timestamptz';
  if (aware !== columnAware) {
    throw new RefineryError('config', {
      code: 'cursor_timezone_mismatch',
      path: `sources.${source.name}.load.since`,
      value,
      message: `load.since '${value}' is ${aware ? 'time-zone aware' : 'naive'}, but the cursor ${column.name} is ${column.type}; Refinery never compares the two silently.`,
      hint: columnAware ? "Add the zone, e.g. '2024-01-01T00:00:00Z'." : "Drop the zone, e.g. '2024-01-01 00:00:00'.",
    });
  }
}

async function loadSnapshot(ctx: StepContext, extractor: DatabaseExtractor, source: DatabaseSourcePlan, columns: TableColumn[], file: string, label: string) {
  const d = ctx.warehouse.dialect;
  const names = columns.map((c) => c.name);
  const keyList = source.key.map((k) => d.quoteIdent(k));
  const snap = d.table('refinery', `snapshot__${source.name}`);
  const extract = (out: Writable) => extractor.extract({ columns: names }, out);
  const result = await withStagedExtract(ctx, source, columns, file, { phase: extractingFrom(source, label) }, extract, async (tx, staged) => {
    await tx.execute(`CREATE TABLE IF NOT EXISTS ${snap} (${[...source.key.map((k) => `${d.quoteIdent(k)} VARCHAR`), '_row_hash VARCHAR'].join(', ')})`);
    const staging = staged.table;
    await assertUniqueKeys(ctx, tx, source, staging);
    const hash = d.rowHash([...names].sort().flatMap((c) => [d.literal(c), `s.${d.quoteIdent(c)}`]));
    const sameKey = source.key.map((k) => `p.${d.quoteIdent(k)} = s.${d.quoteIdent(k)}`).join(' AND ');
    // Today's extract against the last one, by key and row hash: the L2 "change detection" exercise, in SQL.
    await tx.execute(
      `CREATE TEMP TABLE ${d.quoteIdent(`chg_${source.name}`)} AS
       SELECT ${names.map((n) => `s.${d.quoteIdent(n)}`).join(', ')}, CASE WHEN p._row_hash IS NULL THEN 'insert' ELSE 'update' END AS _op, NULL AS _lsn
       FROM ${d.quoteIdent(staging)} s LEFT JOIN ${snap} p ON ${sameKey}
       WHERE p._row_hash IS NULL OR p._row_hash <> ${hash}
       UNION ALL
       SELECT ${names.map((n) => (source.key.includes(n) ? `p.${d.quoteIdent(n)}` : `NULL AS ${d.quoteIdent(n)}`)).join(', ')}, 'delete', NULL
       FROM ${snap} p WHERE NOT EXISTS (SELECT 1 FROM ${d.quoteIdent(staging)} s WHERE ${sameKey})`,
    );
    const { rows: counts } = await tx.query(`SELECT _op, count(*) AS n FROM ${d.quoteIdent(`chg_${source.name}`)} GROUP BY _op`);
    const byOp = Object.fromEntries(counts.map((r) => [String(r._op), Number(r.n)]));
    const loaded = await loadFromTable(ctx, tx, source, names, `chg_${source.name}`, { loadKind: 'snapshot', label: `${label} (snapshot compared by ${source.key.join(', ')})` });
    await tx.execute(`DELETE FROM ${snap}`);
    await tx.execute(`INSERT INTO ${snap} SELECT ${keyList.map((k) => `s.${k}`).join(', ')}, ${hash} FROM ${d.quoteIdent(staging)} s`);
    return { rows: loaded.rows, byOp };
  });
  return { rows: result.rows, message: `snapshot: ${plural(result.byOp.insert ?? 0, 'insert')}, ${plural(result.byOp.update ?? 0, 'update')}, ${plural(result.byOp.delete ?? 0, 'delete')}` };
}

/** WAL decoded by a cdc read from which its step message says how much (below it, decoding is not what took time). */
const WAL_WORTH_SAYING = 64 << 20;

/**
 * An update that leaves a large (TOASTed) value alone does not send it (see PgoutputCsvDecoder): the staged change
 * has NULL there and the column's position in `_unchanged`. Loaded like that, silver would overwrite the value with
 * NULL. The value is the row's previous one instead: from the latest earlier change in this batch that sent the
 * column, else from the key's latest row in bronze (the snapshot or a change before, complete in turn). In SQL,
 * before anything is hashed or written.
 *
 * An update that changed the key arrives as a delete of the old key and, on the next line, an insert of the new row
 * (the only kind of insert that can leave a value unsent). Its previous values are the old key's, not the new key's:
 * the new key has no history, or one of a row deleted earlier. So such an insert looks its values up in the old key's
 * history, from just before that delete. Later changes of the new key take theirs from it once it is filled, which
 * is why this goes in rounds: each round fills the changes whose source is complete, and a chain of key changes in
 * one batch (1 → 10 → 20) takes one round per link. Changes of one key that all left the value alone resolve to
 * the same source, so they take one round however many there are.
 */
async function fillUnsentValues(ctx: StepContext, tx: SqlSession, source: DatabaseSourcePlan, names: readonly string[], unsentColumns: readonly number[], staged: StagedExtract): Promise<void> {
  const d = ctx.warehouse.dialect;
  const q = (n: string): string => d.quoteIdent(n);
  const stg = q(staged.table);
  const keys = source.key.map(q);
  const keyList = (row: string): string => keys.map((k) => `${row}.${k}`).join(', ');
  const sameKey = (a: string, b: string): string => keys.map((k) => `${a}.${k} = ${b}.${k}`).join(' AND ');
  const lookupKey = (a: string, b: string): string => source.key.map((k, i) => `${a}.lk${i} = ${b}.${q(k)}`).join(' AND ');
  // _unchanged holds positions in `names`, space-separated: padded with spaces, a LIKE finds one exactly.
  const unsent = (row: string, position: number): string => `(' ' || ${row}._unchanged || ' ') LIKE '% ${position} %'`;
  // Only the columns some change did not send; a key is always sent.
  const filled = unsentColumns.map((i) => ({ name: names[i] as string, i })).filter(({ name }) => !source.key.includes(name));
  if (filled.length === 0) return;
  // The keys whose history matters: those of the changes to fill, and the old keys of key-changing inserts.
  const keysTable = q(`${staged.table}_keys`);
  await tx.execute(`DROP TABLE IF EXISTS ${keysTable}`);
  await tx.execute(
    `CREATE TEMP TABLE ${keysTable} AS
     SELECT DISTINCT ${keyList('s')} FROM ${stg} s WHERE s._unchanged <> ''
     UNION SELECT ${keyList('o')} FROM ${stg} s JOIN ${stg} o ON o.rowid = s.rowid - 1 WHERE s._op = 'insert' AND s._unchanged <> ''`,
  );
  let left = Number((await tx.query(`SELECT count(*) AS n FROM ${stg} WHERE _unchanged <> ''`)).rows[0]?.n);
  while (left > 0) {
    // One history per key, in batch order: every staged change of the key at 2·rowid, and a probe for each
    // key-changing insert in its old key's history at 2·rowid − 3, just before the old key's delete (2·(rowid − 1)).
    // Per column, a probe or change takes its value from the latest earlier change that sent it (src), unless a
    // key-changing insert still unfilled comes after that one (blk): then it waits for a later round.
    // Each filled change leaves the round with _unchanged emptied: the rows updated are the changes filled.
    const filledNow = await tx.execute(
      `UPDATE ${stg} AS t SET ${filled.map(({ name, i }) => `${q(name)} = CASE WHEN ${unsent('t', i)} THEN f.v${i} ELSE t.${q(name)} END`).join(', ')}, _unchanged = ''
       FROM (
         SELECT w.rid, ${filled.map(({ name, i }) => `CASE WHEN w.src_${i} IS NOT NULL THEN s${i}.${q(name)} ELSE p.${q(name)} END AS v${i}`).join(', ')}
         FROM (
           SELECT h.rid, h.probe, h._op, h._unchanged, ${source.key.map((_, i) => `h.lk${i}`).join(', ')}, ${filled
             .map(({ i }) => [
               `max(CASE WHEN NOT h.probe AND NOT ${unsent('h', i)} THEN h.rid END) OVER history AS src_${i}`,
               `max(CASE WHEN NOT h.probe AND h._op = 'insert' AND ${unsent('h', i)} THEN h.rid END) OVER history AS blk_${i}`,
             ])
             .flat()
             .join(', ')}
           FROM (
             SELECT s.rowid AS rid, 2 * s.rowid AS pos, false AS probe, s._op, s._unchanged, ${source.key.map((k, i) => `s.${q(k)} AS lk${i}`).join(', ')}
             FROM ${stg} s WHERE EXISTS (SELECT 1 FROM ${keysTable} u WHERE ${sameKey('u', 's')})
             UNION ALL
             SELECT s.rowid, 2 * s.rowid - 3, true, s._op, s._unchanged, ${source.key.map((k) => `o.${q(k)}`).join(', ')}
             FROM ${stg} s JOIN ${stg} o ON o.rowid = s.rowid - 1 WHERE s._op = 'insert' AND s._unchanged <> ''
           ) h
           WINDOW history AS (PARTITION BY ${source.key.map((_, i) => `h.lk${i}`).join(', ')} ORDER BY h.pos ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
         ) w
         ${filled.map(({ i }) => `LEFT JOIN ${stg} s${i} ON s${i}.rowid = w.src_${i}`).join(' ')}
         LEFT JOIN (
           SELECT DISTINCT ON (${keyList('b')}) b.*
           FROM ${d.table('bronze', source.name)} b
           WHERE EXISTS (SELECT 1 FROM ${keysTable} u WHERE ${sameKey('u', 'b')})
           ORDER BY ${keyList('b')}, b._batch_id DESC, b._source_row DESC
         ) p ON ${lookupKey('w', 'p')}
         WHERE w._unchanged <> '' AND (w.probe OR w._op <> 'insert')
           AND ${filled.map(({ i }) => `(NOT ${unsent('w', i)} OR w.blk_${i} IS NULL OR w.src_${i} > w.blk_${i})`).join(' AND ')}
       ) f
       WHERE t.rowid = f.rid`,
    );
    // Each round fills at least the earliest change still waiting (nothing unfilled comes before it).
    if (filledNow === 0) throw new Error(`filling the values unsent in ${source.table}'s changes made no progress (${left} changes left)`);
    left -= filledNow;
  }
  await tx.execute(`DROP TABLE ${keysTable}`);
}

/** Appends rows of a temp table that already has the source's columns plus _op and _lsn. */
async function loadFromTable(ctx: StepContext, tx: SqlSession, source: DatabaseSourcePlan, names: readonly string[], table: string, options: { loadKind: string; label: string }): Promise<{ rows: number }> {
  const d = ctx.warehouse.dialect;
  const { batchId } = await ensureBronzeTable(ctx, tx, source.name, { columns: names.map((name) => ({ name, type: 'VARCHAR' })) });
  await ensureChangeColumns(ctx, tx, source.name);
  const hash = d.rowHash([...names].sort().flatMap((c) => [d.literal(c), `s.${d.quoteIdent(c)}`]));
  const rows = await tx.execute(
    `INSERT INTO ${d.table('bronze', source.name)} (${[...names.map((n) => d.quoteIdent(n)), '_batch_id', '_source_file', '_source_row', '_ingested_at', '_row_hash', '_op', '_lsn'].join(', ')})
     SELECT ${names.map((n) => `s.${d.quoteIdent(n)}`).join(', ')}, $1, $2, row_number() OVER (ORDER BY s._op = 'delete', ${source.key.map((k) => `s.${d.quoteIdent(k)}`).join(', ') || 's.rowid'}), $3, ${hash}, s._op, s._lsn
     FROM ${d.quoteIdent(table)} AS s`,
    [batchId, options.label, ctx.runStartedAt],
  );
  await tx.execute(
    `INSERT INTO refinery.batches (batch_id, source, path, content_hash, size_bytes, rows, rejected_rows, run_id, ingested_at, previous_batch_id, load_kind) VALUES ($1, $2, $3, '', 0, $4, 0, $5, $6, NULL, $7)`,
    [batchId, source.name, options.label, rows, ctx.runId, ctx.runStartedAt, options.loadKind],
  );
  return { rows };
}

/** Null or duplicate keys would make a silent duplicate downstream: stop with the keys and rows instead. */
async function assertUniqueKeys(ctx: StepContext, tx: SqlSession, source: DatabaseSourcePlan, staging: string): Promise<void> {
  const d = ctx.warehouse.dialect;
  const keys = source.key.map((k) => d.quoteIdent(k));
  const { rows: nulls } = await tx.query(`SELECT count(*) AS n FROM ${d.quoteIdent(staging)} WHERE ${keys.map((k) => `${k} IS NULL`).join(' OR ')}`);
  if (Number(nulls[0]?.n) > 0) {
    throw new RefineryError('pipeline', { code: 'null_key', step: `bronze.${source.name}`, message: `${plural(Number(nulls[0]?.n), 'row')} of ${source.table} ${Number(nulls[0]?.n) === 1 ? 'has' : 'have'} no ${source.key.join(' + ')}, the key the snapshot strategy compares by.`, hint: 'Give every row a key, or choose another key for the source.' });
  }
  const { rows: dupes } = await tx.query(`SELECT ${keys.join(', ')}, count(*) AS n FROM ${d.quoteIdent(staging)} GROUP BY ${keys.join(', ')} HAVING count(*) > 1 ORDER BY n DESC LIMIT 5`);
  if (dupes.length > 0) {
    throw new RefineryError('pipeline', {
      code: 'duplicate_key',
      step: `bronze.${source.name}`,
      message: `${source.table} has several rows for the same ${source.key.join(' + ')}: ${dupes.map((r) => `${source.key.map((k) => `${k}=${String(r[k])}`).join(', ')} (${Number(r.n)} rows)`).join('; ')}. A snapshot is compared by key, so keys must be unique.`,
      hint: 'Fix the key column(s) under sources.<name>.key, or de-duplicate the table.',
    });
  }
}

async function loadCdc(ctx: StepContext, extractor: PostgresExtractor, source: PostgresSourcePlan, picked: TableColumn[], all: readonly TableColumn[], file: string, label: string, state: Map<string, string>) {
  const { client } = extractor;
  const { slot, publication } = source.load;
  // pgoutput leaves generated columns out of every change, so after the snapshot they would read NULL and silver
  // would take that NULL: they are not extracted at all, and the step says so. Named in `columns`, they are an error.
  const generated = picked.filter((c) => c.generated).map((c) => c.name);
  if (generated.length > 0 && source.columns.length > 0) {
    throw new RefineryError('config', {
      code: 'cdc_generated_column',
      path: `sources.${source.name}.columns`,
      value: generated.join(', '),
      message: `${source.table}.${generated[0]} is a generated column, and PostgreSQL's change stream does not carry generated columns: after the snapshot it would always read NULL.`,
      hint: `Leave ${generated.join(', ')} out of columns and compute it in silver or gold, or use strategy 'cursor' or 'snapshot'.`,
    });
  }
  const columns = picked.filter((c) => !c.generated);
  const leftOut = generated.length > 0 ? `; generated ${generated.length === 1 ? 'column' : 'columns'} ${generated.join(', ')} left out (the change stream does not carry ${generated.length === 1 ? 'it' : 'them'})` : '';
  const names = columns.map((c) => c.name);
  const known = state.get('cdc_lsn');
  if (known === undefined || ctx.fullRefresh) {
    // First run (or a forced re-snapshot): any slot already there was left behind by an earlier warehouse — its
    // position means nothing to this one — so start clean: slot first, then the snapshot, then changes from the slot.
    const existing = await slotState(client, slot);
    // ...unless it is someone else's: a slot of another database (slot names are server-wide), or one a consumer
    // is streaming from right now. Dropping those would break another pipeline; the user picks another name.
    if (existing.exists && (existing.activePid !== undefined || existing.database !== existing.currentDatabase)) {
      throw new RefineryError('pipeline', {
        code: 'cdc_slot_in_use',
        step: `bronze.${source.name}`,
        value: slot,
        message: existing.activePid !== undefined
          ? `Replication slot ${slot} is in use right now (server process ${existing.activePid} streams from it), so it belongs to another consumer, not to this warehouse.`
          : `Replication slot ${slot} belongs to database ${existing.database ?? '(none)'}, not ${existing.currentDatabase ?? 'this one'}: slot names are shared by the whole server.`,
        hint: `Give this source its own slot and publication, e.g. load: { strategy: 'cdc', slot: '${slot.slice(0, 50)}_2', publication: '${slot.slice(0, 50)}_2' }, or stop the other consumer and drop the slot with \`refinery cdc-drop\`.`,
      });
    }
    await assertCdcTable(client, source, false);
    const leftBehind = existing.exists;
    if (leftBehind) await dropCdcSetup(client, slot, publication, source.table);
    // A publication that is there already (named in load.publication, or one Refinery's drop kept) must carry
    // every change: checked before the slot exists, so nothing is snapshotted that changes could not follow.
    const problems = await publicationProblems(client, publication, source.table, names);
    if (problems !== 'missing' && problems.length > 0) throw publicationError(source, problems, false);
    // Creating the slot waits for the transactions open on the server (see ensureCdcSetup): say what is waited for.
    ctx.progress({ type: 'step-detail', step: `bronze.${source.name}`, detail: `creating replication slot ${slot} (it waits for transactions open on the server to end)` });
    const setup = await ensureCdcSetup(client, source.table, slot, publication);
    const extract = (out: Writable) => extractor.extract({ columns: names }, out);
    const { rows } = await withStagedExtract(ctx, source, columns, file, { phase: extractingFrom(source, label) }, extract, async (tx, staged) => {
      const loaded = await loadExtract(ctx, tx, source, columns, staged, { loadKind: 'cdc-snapshot', label: `${label} (initial snapshot for slot ${slot})`, op: 'insert' });
      await writeSourceState(tx, source.name, { cdc_lsn: setup.lsn, slot }, ctx.clock.now());
      return loaded;
    });
    return { rows, message: `cdc: initial snapshot of ${plural(rows, 'row')}; slot ${slot} created at ${setup.lsn}${leftBehind ? (known === undefined ? ' (a slot left behind by an earlier warehouse was dropped first)' : ' (the previous slot was dropped first: a new snapshot starts a new stream)') : ''}${leftOut}` };
  }
  const current = await slotState(client, slot);
  if (!current.exists) {
    throw new RefineryError('pipeline', {
      code: 'cdc_slot_missing',
      step: `bronze.${source.name}`,
      message: `The replication slot ${slot} is gone, so changes after ${known} may be lost.`,
      hint: `Take a new snapshot: ${resnapshotCommand(source)}`,
    });
  }
  if (current.walStatus === 'lost') throw slotLostError(source, known);
  await assertCdcTable(client, source, true);
  // Checked on every read: a publication altered since the snapshot (a table dropped from it, deletes no longer
  // published) would otherwise lose changes without a word.
  const problems = await publicationProblems(client, publication, source.table, names);
  if (problems === 'missing' || problems.length > 0) throw publicationError(source, problems, true);
  const upto = await flushedLsn(client);
  const phase = `reading changes from slot ${slot} (${known} → ${upto})`;
  ctx.progress({ type: 'step-detail', step: `bronze.${source.name}`, detail: phase });
  const extract = (out: Writable) => writeChanges(client, { slot, publication, table: source.table, columns: names, key: source.key, afterLsn: known, uptoLsn: upto, out, decodingMemory: source.load.decodingMemory, tableColumns: all.map((c) => c.name) });
  let lsn = upto;
  const rows = await withStagedExtract(ctx, source, columns, file, { changes: true, phase }, extract, async (tx, staged, batch) => {
    if (batch.truncatedAt !== undefined) {
      // A truncate arrives as one message, not as a delete per row: applying the changes around it as if it had not
      // happened would leave silver with rows the source no longer has. Nothing is loaded and the slot stays put.
      throw new RefineryError('pipeline', {
        code: 'cdc_truncated',
        step: `bronze.${source.name}`,
        value: batch.truncatedAt,
        message: `${source.table} was truncated at the source (in the transaction committed at ${batch.truncatedAt}); a change stream does not say which rows that removed, so no change of this read was loaded.`,
        hint: truncatedHint(source),
      });
    }
    // Values sent under a column name the table no longer has would load as NULL under its new name.
    if (batch.renamed) throw columnsRenamedError(source, batch.renamed);
    // The position kept (and acknowledged) is where this read stopped, not where its last change ended: every
    // transaction committed before it came in this read. So the next read does not decode again the WAL other
    // tables wrote after this table's last change, and the server need not keep it. A last commit record that
    // straddles the stop ends after it, and then its end is the position.
    lsn = batch.lastLsn !== undefined && lsnValue(batch.lastLsn) > lsnValue(upto) ? batch.lastLsn : upto;
    if (batch.unsentColumns.length > 0) await fillUnsentValues(ctx, tx, source, names, batch.unsentColumns, staged);
    const loaded = batch.changes > 0 ? (await loadExtract(ctx, tx, source, columns, staged, { loadKind: 'cdc', label: `${label} (changes ${known} → ${lsn})`, changes: true })).rows : 0;
    await writeSourceState(tx, source.name, { cdc_lsn: lsn }, ctx.clock.now());
    return loaded;
  });
  // Logical decoding reads the WAL of every table from the slot's restart point: a read with few changes can still
  // take long, and when that WAL is large the line says why.
  const walBytes = current.restartLsn ? Math.max(0, lsnValue(upto) - lsnValue(current.restartLsn)) : 0;
  const decoded = walBytes >= WAL_WORTH_SAYING ? `; decoded ${formatBytes(walBytes)} of WAL, every table's, to find them` : '';
  return { rows, message: `cdc: ${plural(rows, 'change')} up to ${lsn}${decoded}${leftOut}`, afterCommit: () => acknowledge(client, slot, lsn) };
}

