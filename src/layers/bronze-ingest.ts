import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { FileSourcePlan } from '../config/plan.js';
import { RefineryError } from '../errors.js';
import { recordStep } from '../state/run-records.js';
import { scanCsv, type CsvScan } from '../sources/csv-record-scanner.js';
import { locateRejects, rawRecordText, type LocatedReject } from '../sources/csv-reject-positions.js';
import { locateJsonError } from '../sources/json-error-position.js';
import { hashFile, listLandingFiles } from '../sources/landing-files.js';
import { JsonParseError } from '../warehouse/duckdb/duckdb-file-stager.js';
import type { SqlSession, StagedFile } from '../warehouse/warehouse.js';
import { emptyOutcome, type FileOutcome, type StepContext, type StepOutcome } from '../orchestrator/run-context.js';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { failpoint } from '../failpoints.js';

/** Extra lineage for database sources: the kind of change (insert/update/delete) and the CDC log position. */
export const CHANGE_LINEAGE = ['_op', '_lsn'] as const;

/** Lineage columns every bronze row carries, after the columns of the file itself. */
export const BRONZE_LINEAGE = ['_batch_id', '_source_file', '_source_row', '_ingested_at', '_row_hash', '_load_error', '_raw_line'] as const;
const LINEAGE_TYPES: Record<(typeof BRONZE_LINEAGE)[number], string> = {
  _batch_id: 'BIGINT',
  _source_file: 'VARCHAR',
  _source_row: 'BIGINT',
  _ingested_at: 'TIMESTAMP',
  _row_hash: 'VARCHAR',
  _load_error: 'VARCHAR',
  _raw_line: 'VARCHAR',
};
const RESERVED = new Set<string>([...BRONZE_LINEAGE, ...CHANGE_LINEAGE]);

class Refusal extends Error {
  constructor(
    readonly reason: string,
    readonly line?: number,
  ) {
    super(reason);
  }
}

interface KnownFile {
  readonly hash: string;
  readonly status: string;
  readonly batchId: number | null;
  readonly size: number | undefined;
  readonly mtime: number | undefined;
  readonly settings: string | undefined;
}

/**
 * Landing → bronze for one source: every new or changed file becomes one append-only batch, holding each row
 * exactly as received plus lineage. Each file commits in its own transaction with its batch and file record, so
 * a run killed midway keeps the files it finished and the next run carries on with the rest.
 */
export async function ingestSource(ctx: StepContext, source: FileSourcePlan): Promise<StepOutcome> {
  const step = `bronze.${source.name}`;
  const started = ctx.clock.now();
  const { warehouse, plan } = ctx;
  const files = await listLandingFiles(plan.projectDir, source.path);
  const { rows: knownRows } = await warehouse.query(
    `SELECT path, content_hash, status, batch_id, size_bytes, mtime_ms, settings FROM refinery.files WHERE source = $1 ORDER BY seen_at`,
    [source.name],
  );
  const known = new Map<string, KnownFile[]>();
  for (const r of knownRows) {
    const list = known.get(String(r.path)) ?? [];
    list.push({
      hash: String(r.content_hash),
      status: String(r.status),
      batchId: r.batch_id === null ? null : Number(r.batch_id),
      size: r.size_bytes === null ? undefined : Number(r.size_bytes),
      mtime: r.mtime_ms === null ? undefined : Number(r.mtime_ms),
      settings: r.settings === null ? undefined : String(r.settings),
    });
    known.set(String(r.path), list);
  }
  const settings = parseSettings(source);

  const outcomes: FileOutcome[] = [];
  let rowsIn = 0;
  let malformed = 0;
  for (const [index, rel] of files.entries()) {
    ctx.signal.throwIfAborted();
    const abs = join(plan.projectDir, rel);
    ctx.progress({ type: 'step-detail', step, detail: `${rel} (${index + 1}/${files.length})` });
    const prior = known.get(rel) ?? [];
    const stat = statSync(abs);
    // Same path, size, modification time and parse settings as a version already seen: unchanged, not read again.
    const seen = prior.findLast((p) => p.size === stat.size && p.mtime === stat.mtimeMs && p.settings === settings);
    if (seen) {
      outcomes.push({ path: rel, outcome: seen.status === 'refused' ? 'still_refused' : 'unchanged', ...(seen.batchId ? { batchId: seen.batchId } : {}) });
      continue;
    }
    const scan = source.format === 'csv' ? await scanCsv(abs, source.csv) : undefined;
    const { sha256, bytes } = scan ?? (await hashFile(abs));
    // Touched but identical content, read with the same settings: still the same file.
    const same = prior.find((p) => p.hash === sha256 && (p.settings === undefined || p.settings === settings));
    if (same) {
      await warehouse.execute(`UPDATE refinery.files SET size_bytes = $1, mtime_ms = $2, settings = $3 WHERE source = $4 AND path = $5 AND content_hash = $6`, [stat.size, stat.mtimeMs, settings, source.name, rel, sha256]);
      outcomes.push({ path: rel, outcome: same.status === 'refused' ? 'still_refused' : 'unchanged', ...(same.batchId ? { batchId: same.batchId } : {}) });
      continue;
    }
    const previousBatchId = prior.reduce<number | undefined>((max, p) => (p.batchId !== null && (max === undefined || p.batchId > max) ? p.batchId : max), undefined);
    try {
      // One transaction per file: its rows, its batch and its file record commit together. A run killed between
      // files resumes after the last committed one; an engine error on one file cannot poison the others.
      const result = await warehouse.transaction((tx) => ingestFile(ctx, tx, source, rel, abs, { sha256, bytes, scan, previousBatchId, size: stat.size, mtime: stat.mtimeMs, settings }), { signal: ctx.signal });
      failpoint('bronze:after-file-commit');
      rowsIn += result.rows + result.malformedRows;
      malformed += result.malformedRows;
      outcomes.push({
        path: rel,
        outcome: previousBatchId === undefined ? 'ingested' : 'changed',
        batchId: result.batchId,
        rows: result.rows + result.malformedRows,
        malformedRows: result.malformedRows,
        ...(previousBatchId === undefined ? {} : { previousBatchId }),
      });
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      await warehouse.execute(
        `INSERT INTO refinery.files (source, path, content_hash, status, batch_id, run_id, seen_at, reason, size_bytes, mtime_ms, settings) VALUES ($1, $2, $3, 'refused', NULL, $4, $5, $6, $7, $8, $9)`,
        [source.name, rel, sha256, ctx.runId, ctx.clock.now(), error.line ? `line ${error.line}: ${error.reason}` : error.reason, stat.size, stat.mtimeMs, settings],
      );
      outcomes.push({ path: rel, outcome: 'refused', reason: error.reason, ...(error.line ? { line: error.line } : {}) });
    }
  }
  const ended = ctx.clock.now();
  const ingested = outcomes.filter((o) => o.outcome === 'ingested' || o.outcome === 'changed').length;
  const outcome: StepOutcome = {
    ...emptyOutcome(step, 'bronze'),
    status: ingested > 0 ? 'success' : 'skipped',
    rowsIn,
    rowsWritten: rowsIn,
    files: outcomes,
    message: files.length === 0 ? `no files match ${source.path}` : ingested === 0 ? noneIngested(outcomes) : undefined,
    durationMs: ended.getTime() - started.getTime(),
  };
  await recordStep(warehouse, {
    runId: ctx.runId,
    step,
    kind: 'bronze',
    status: outcome.status,
    startedAt: started,
    endedAt: ended,
    rowsIn,
    rowsWritten: rowsIn,
    rowsQuarantined: 0,
    rowsSuperseded: 0,
    rowsWarned: 0,
    attempts: ctx.attempt,
    ...(outcome.message ? { message: outcome.message } : {}),
    details: { files: outcomes, malformedRows: malformed },
  });
  return outcome;
}

function noneIngested(outcomes: readonly FileOutcome[]): string {
  const refused = outcomes.filter((o) => o.outcome === 'refused').length;
  return refused > 0 ? `${refused} new file${refused === 1 ? '' : 's'} refused; nothing ingested` : 'no new or changed files';
}

interface FileFacts {
  readonly sha256: string;
  readonly bytes: number;
  readonly scan: CsvScan | undefined;
  readonly previousBatchId: number | undefined;
  readonly size: number;
  readonly mtime: number;
  readonly settings: string;
}

/** What decides how a file is read: change it and every file of the source is read again (and replaces its batch). */
function parseSettings(source: FileSourcePlan): string {
  return JSON.stringify({ format: source.format, csv: source.csv, required: source.requiredColumns });
}

async function ingestFile(
  ctx: StepContext,
  tx: SqlSession,
  source: FileSourcePlan,
  rel: string,
  abs: string,
  facts: FileFacts,
): Promise<{ batchId: number; rows: number; malformedRows: number }> {
  const { warehouse } = ctx;
  const d = warehouse.dialect;
  if (facts.bytes === 0) throw new Refusal('the file is empty (not even a header row)');
  let header: string[] | undefined;
  if (facts.scan) {
    if (facts.scan.unterminatedQuote) {
      throw new Refusal(`a quoted value opens on this line and never closes, so the rest of the file cannot be read reliably`, facts.scan.unterminatedQuote.line);
    }
    header = facts.scan.header;
    if (!header || header.every((h) => h === '')) throw new Refusal('the file has no header row', 1);
    header = header.map((h, i) => (h === '' ? `column${i + 1}` : h));
    checkColumnNames(header, 1);
  }
  const stagingTable = `stg_${source.name}_${ctx.runId}_${Math.abs(hashInt(rel))}`;
  let staged: StagedFile;
  try {
    staged = await warehouse.files.stage(tx, { file: abs, format: source.format, csv: source.csv, ...(header ? { columns: header } : {}), stagingTable });
  } catch (error) {
    if (error instanceof JsonParseError) {
      // Engines report offsets inside a record and drifting line numbers: find the spot ourselves (error path only).
      const text = readFileSync(abs, 'utf8');
      const located = source.format === 'json' ? locateJsonError(text) : locateJsonLinesError(text);
      if (located) throw new Refusal(`the JSON does not parse: ${located.problem}`, located.line);
      throw new Refusal(`the JSON does not parse (${error.detail.trim()})`, error.line);
    }
    if (error instanceof RefineryError && error.kind === 'input') throw new Refusal(error.message);
    throw error;
  }
  const columns = staged.columns.map((c) => c.name);
  if (!facts.scan) checkColumnNames(columns, undefined);
  const missing = source.requiredColumns.filter((c) => !columns.includes(c));
  if (missing.length > 0) {
    throw new Refusal(
      `missing required column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}; the file has ${columns.map((c) => `'${c}'`).join(', ') || 'no columns'}`,
      facts.scan ? 1 : undefined,
    );
  }
  let rejects: LocatedReject[] = [];
  if (facts.scan) {
    if (staged.rejects.length > 0) rejects = await locateRejects(abs, source.csv, staged.rejects);
    if (staged.rows + rejects.length !== facts.scan.records) {
      throw new Refusal(
        `the CSV reader returned ${staged.rows} rows and ${rejects.length} unreadable ones, but the file holds ${facts.scan.records} records; refusing it rather than ingesting part of it`,
      );
    }
  }

  const bronze = d.table('bronze', source.name);
  await ensureBronzeTable(ctx, tx, source.name, staged);
  // Batch ids count per source: one step ingests a source's files in path order, so the numbering is the same
  // however many sources are ingested side by side, and a re-run after a crash numbers exactly as before.
  const { rows: idRows } = await tx.query(`SELECT coalesce(max(batch_id), 0) + 1 AS id FROM refinery.batches WHERE source = $1`, [source.name]);
  const batchId = Number(idRows[0]?.id);
  const ingestedAt = ctx.runStartedAt;
  // Clean rows fill, in order, the record numbers the rejected records did not take: with rejects at records
  // r1 < r2 < ..., clean row k is record k + #{ j : r_j - j < k }.
  const gaps = rejects.map((r, j) => r.record - (j + 1));
  const rowNumber =
    gaps.length === 0
      ? `${staged.rowIndexExpr} + 1`
      : `${staged.rowIndexExpr} + 1 + (SELECT count(*) FROM (VALUES ${gaps.map((g) => `(${g})`).join(', ')}) AS gaps(g) WHERE gaps.g < ${staged.rowIndexExpr} + 1)`;
  const sorted = [...columns].sort();
  const hash = d.rowHash(sorted.flatMap((c) => [d.literal(c), d.quoteIdent(c)]));
  if (staged.rows > 0) await tx.execute(
    `INSERT INTO ${bronze} (${[...columns.map((c) => d.quoteIdent(c)), '_batch_id', '_source_file', '_source_row', '_ingested_at', '_row_hash'].join(', ')})
     SELECT ${columns.map((c) => d.quoteIdent(c)).join(', ')}, $1, $2, ${rowNumber}, $3, ${hash}
     FROM ${d.quoteIdent(stagingTable)}`,
    [batchId, rel, ingestedAt],
  );
  const fd = rejects.length > 0 ? openSync(abs, 'r') : undefined;
  for (const reject of rejects) {
    const bytes = Buffer.alloc(reject.end - reject.offset);
    if (fd !== undefined) readSync(fd, bytes, 0, bytes.length, reject.offset);
    const rawLine = rawRecordText(bytes);
    await tx.execute(
      `INSERT INTO ${bronze} (_batch_id, _source_file, _source_row, _ingested_at, _row_hash, _load_error, _raw_line) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [batchId, rel, reject.record, ingestedAt, createHash('md5').update(bytes).digest('hex'), `line ${reject.line}: ${describeReject(reject)}`, rawLine],
    );
  }
  if (fd !== undefined) closeSync(fd);
  await tx.execute(`DROP TABLE IF EXISTS ${d.quoteIdent(stagingTable)}`);
  await tx.execute(
    `INSERT INTO refinery.batches (batch_id, source, path, content_hash, size_bytes, rows, rejected_rows, run_id, ingested_at, previous_batch_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [batchId, source.name, rel, facts.sha256, facts.bytes, staged.rows + rejects.length, rejects.length, ctx.runId, ingestedAt, facts.previousBatchId ?? null],
  );
  await tx.execute(
    `INSERT INTO refinery.files (source, path, content_hash, status, batch_id, run_id, seen_at, reason, size_bytes, mtime_ms, settings) VALUES ($1, $2, $3, 'ingested', $4, $5, $6, NULL, $7, $8, $9)`,
    [source.name, rel, facts.sha256, batchId, ctx.runId, ctx.clock.now(), facts.size, facts.mtime, facts.settings],
  );
  return { batchId, rows: staged.rows, malformedRows: rejects.length };
}

function describeReject(reject: LocatedReject): string {
  const kind = reject.kind.toLowerCase();
  if (kind.includes('encoding')) return `${reject.message.split('.')[0]} (not valid UTF-8; if the file is Latin-1, set csv.encoding to 'latin-1')`;
  return reject.message;
}

function checkColumnNames(columns: readonly string[], line: number | undefined): void {
  const seen = new Map<string, string>();
  for (const c of columns) {
    if (RESERVED.has(c.toLowerCase())) throw new Refusal(`column '${c}' uses a name Refinery reserves for lineage (${BRONZE_LINEAGE.join(', ')}); rename it in the file`, line);
    const lower = c.toLowerCase();
    const earlier = seen.get(lower);
    if (earlier !== undefined) throw new Refusal(`column '${c}' appears twice in the header${earlier !== c ? ` (as '${earlier}' too; names are case-insensitive)` : ''}`, line);
    seen.set(lower, c);
  }
}

/** Creates bronze.<name> or adds the columns a new file brings (never drops one). Shared with database sources. */
export async function ensureBronzeTable(ctx: StepContext, tx: SqlSession, name: string, staged: Pick<StagedFile, 'columns'>): Promise<void> {
  const d = ctx.warehouse.dialect;
  const bronze = d.table('bronze', name);
  const current = await ctx.warehouse.introspector.columns('bronze', name, tx);
  if (current.length === 0) {
    const columns = [
      ...staged.columns.map((c) => `${d.quoteIdent(c.name)} ${c.type}`),
      ...BRONZE_LINEAGE.map((c) => `${d.quoteIdent(c)} ${LINEAGE_TYPES[c]}`),
    ];
    await tx.execute(`CREATE TABLE ${bronze} (${columns.join(', ')})`);
    return;
  }
  const existing = new Map(current.map((c) => [c.name.toLowerCase(), c.type]));
  for (const column of staged.columns) {
    const type = existing.get(column.name.toLowerCase());
    if (type === undefined) {
      // A new column in a later file is kept, never dropped: earlier batches simply have NULL there.
      await tx.execute(`ALTER TABLE ${bronze} ADD COLUMN ${d.quoteIdent(column.name)} ${column.type}`);
    } else if (type !== column.type) {
      throw new Refusal(`column '${column.name}' is ${column.type} in this file but ${type} in bronze.${name}; bronze keeps one type per column`);
    }
  }
}

function hashInt(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (Math.imul(31, h) + text.charCodeAt(i)) | 0;
  return h;
}

function locateJsonLinesError(text: string): { line: number; problem: string } | undefined {
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const error = locateJsonError(line);
    if (error) return { line: index + 1, problem: error.problem };
  }
  return undefined;
}
