import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { FileSourcePlan } from '../config/plan.js';
import { RefineryError } from '../errors.js';
import { scanCsv, type CsvScan } from '../sources/csv-record-scanner.js';
import { locateRejects, rawRecordText, type LocatedReject } from '../sources/csv-reject-positions.js';
import { locateJsonError } from '../sources/json-error-position.js';
import { hashFile, listLandingFiles } from '../sources/landing-files.js';
import { JsonParseError } from '../warehouse/duckdb/duckdb-file-stager.js';
import type { SqlSession, StagedFile } from '../warehouse/warehouse.js';
import { emptyOutcome, type FileOutcome, type StepContext, type StepOutcome } from '../orchestrator/run-context.js';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { failpoint } from '../failpoints.js';
import { recordStep, type StepRecord } from '../state/run-records.js';
import { utf8ReadAsLatin1 } from '../sources/encoding-check.js';
import { evolveBronzeTable, type BronzeArrival } from './bronze-schema.js';

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

/** A file (or an API extract) that cannot be ingested as it is: nothing of it is written. */
export class Refusal extends Error {
  constructor(
    readonly reason: string,
    readonly line?: number,
  ) {
    super(reason);
  }
}

/** A version of a landing file Refinery has seen (refinery.files), oldest first per path. */
export interface KnownFile {
  readonly hash: string;
  readonly status: string;
  readonly batchId: number | null;
  readonly size: number | undefined;
  readonly mtime: number | undefined;
  readonly settings: string | undefined;
}

/** Every version of every file of a source seen so far, by path. Shared with `refinery plan`, which must agree. */
export async function knownFiles(session: SqlSession, source: string): Promise<Map<string, KnownFile[]>> {
  const { rows } = await session.query(`SELECT path, content_hash, status, batch_id, size_bytes, mtime_ms, settings FROM refinery.files WHERE source = $1 ORDER BY seen_at`, [source]);
  const known = new Map<string, KnownFile[]>();
  for (const r of rows) {
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
  return known;
}

/** Same size, modification time and parse settings as a version already seen: unchanged, not read again. */
export function seenUntouched(prior: readonly KnownFile[], stat: { size: number; mtimeMs: number }, settings: string): KnownFile | undefined {
  return prior.findLast((p) => p.size === stat.size && p.mtime === stat.mtimeMs && p.settings === settings);
}

/** Touched but identical content, read with the same settings: still the same file. */
export function seenWithContent(prior: readonly KnownFile[], sha256: string, settings: string): KnownFile | undefined {
  return prior.find((p) => p.hash === sha256 && (p.settings === undefined || p.settings === settings));
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
  // The landing zone's listing (the file system) and what the warehouse knows of it (a query) do not wait on each other.
  const [files, known] = await Promise.all([listLandingFiles(plan.projectDir, source.path), knownFiles(warehouse, source.name)]);
  const settings = parseSettings(source);

  // First which files are new or changed (cheap: size and time, then content), then those are ingested: the last
  // one's transaction can then carry the step's record too.
  const outcomes: (FileOutcome | undefined)[] = [];
  const pending: { index: number; rel: string; abs: string; facts: FileFacts }[] = [];
  for (const [index, rel] of files.entries()) {
    ctx.signal.throwIfAborted();
    const abs = join(plan.projectDir, rel);
    ctx.progress({ type: 'step-detail', step, detail: `${rel} (${index + 1}/${files.length})` });
    const prior = known.get(rel) ?? [];
    const stat = statSync(abs);
    const seen = seenUntouched(prior, stat, settings);
    if (seen) {
      outcomes.push({ path: rel, outcome: seen.status === 'refused' ? 'still_refused' : 'unchanged', ...(seen.batchId ? { batchId: seen.batchId } : {}) });
      continue;
    }
    const scan = source.format === 'csv' ? await scanCsv(abs, source.csv) : undefined;
    const { sha256, bytes } = scan ?? (await hashFile(abs));
    const same = seenWithContent(prior, sha256, settings);
    if (same) {
      await warehouse.execute(`UPDATE refinery.files SET size_bytes = $1, mtime_ms = $2, settings = $3 WHERE source = $4 AND path = $5 AND content_hash = $6`, [stat.size, stat.mtimeMs, settings, source.name, rel, sha256]);
      outcomes.push({ path: rel, outcome: same.status === 'refused' ? 'still_refused' : 'unchanged', ...(same.batchId ? { batchId: same.batchId } : {}) });
      continue;
    }
    const previousBatchId = prior.reduce<number | undefined>((max, p) => (p.batchId !== null && (max === undefined || p.batchId > max) ? p.batchId : max), undefined);
    outcomes.push(undefined);
    pending.push({ index, rel, abs, facts: { sha256, bytes, scan, previousBatchId, size: stat.size, mtime: stat.mtimeMs, settings } });
  }

  let rowsIn = 0;
  let malformed = 0;
  const summary = (): { outcome: StepOutcome; record: StepRecord } => {
    const ended = ctx.clock.now();
    const done = outcomes.filter((o): o is FileOutcome => o !== undefined);
    const ingested = done.filter((o) => o.outcome === 'ingested' || o.outcome === 'changed').length;
    const outcome: StepOutcome = {
      ...emptyOutcome(step, 'bronze'),
      reads: 'files',
      status: ingested > 0 ? 'success' : 'skipped',
      rowsIn,
      rowsWritten: rowsIn,
      files: done,
      message: files.length === 0 ? `no files match ${source.path}` : ingested === 0 ? noneIngested(done) : undefined,
      durationMs: ended.getTime() - started.getTime(),
    };
    const record: StepRecord = {
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
      details: { files: done, malformedRows: malformed },
    };
    return { outcome, record };
  };
  let recorded: StepOutcome | undefined;
  for (const [n, file] of pending.entries()) {
    ctx.signal.throwIfAborted();
    const { index, rel, abs, facts } = file;
    const last = n === pending.length - 1;
    ctx.progress({ type: 'step-detail', step, detail: `ingesting ${rel} (${index + 1}/${files.length})` });
    try {
      // One transaction per file: its rows, its batch and its file record commit together. A run killed between
      // files resumes after the last committed one; an engine error on one file cannot poison the others. The
      // last file's transaction also records the step.
      await warehouse.transaction(async (tx) => {
        const result = await ingestFile(ctx, tx, source, rel, abs, facts);
        const warnings = source.format === 'csv' && source.csv.encoding === 'latin-1' ? await encodingWarnings(abs, source.name) : [];
        const outcome: FileOutcome = {
          path: rel,
          outcome: facts.previousBatchId === undefined ? 'ingested' : 'changed',
          batchId: result.batchId,
          rows: result.rows + result.malformedRows,
          malformedRows: result.malformedRows,
          ...(facts.previousBatchId === undefined ? {} : { previousBatchId: facts.previousBatchId }),
          ...(result.schemaNotes.length > 0 ? { schema: result.schemaNotes } : {}),
          ...(warnings.length > 0 ? { warnings } : {}),
        };
        outcomes[index] = outcome;
        rowsIn += outcome.rows ?? 0;
        malformed += result.malformedRows;
        if (last) {
          const summed = summary();
          await recordStep(tx, summed.record);
          recorded = summed.outcome;
        }
      }, { signal: ctx.signal });
      failpoint('bronze:after-file-commit');
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      await warehouse.execute(
        `INSERT INTO refinery.files (source, path, content_hash, status, batch_id, run_id, seen_at, reason, size_bytes, mtime_ms, settings) VALUES ($1, $2, $3, 'refused', NULL, $4, $5, $6, $7, $8, $9)`,
        [source.name, rel, facts.sha256, ctx.runId, ctx.clock.now(), error.line ? `line ${error.line}: ${error.reason}` : error.reason, facts.size, facts.mtime, facts.settings],
      );
      outcomes[index] = { path: rel, outcome: 'refused', reason: error.reason, ...(error.line ? { line: error.line } : {}) };
    }
  }
  if (recorded) return recorded;
  // No file's transaction carried the record (nothing ingested, or the last one refused): it is group-committed.
  const { outcome, record } = summary();
  ctx.records.add(record);
  return outcome;
}

async function encodingWarnings(path: string, source: string): Promise<string[]> {
  const garbled = await utf8ReadAsLatin1(path);
  if (!garbled) return [];
  return [`read as Latin-1 (sources.${source}.csv.encoding), but its bytes are valid UTF-8: '${garbled.utf8}' was stored as '${garbled.latin1}'. If the file is UTF-8, remove csv.encoding and run again (the file is read again when its settings change).`];
}

function noneIngested(outcomes: readonly FileOutcome[]): string {
  const refused = outcomes.filter((o) => o.outcome === 'refused').length;
  return refused > 0 ? `${refused} new file${refused === 1 ? '' : 's'} refused; nothing ingested` : 'no new or changed files';
}

export interface FileFacts {
  readonly sha256: string;
  readonly bytes: number;
  readonly scan: CsvScan | undefined;
  readonly previousBatchId: number | undefined;
  readonly size: number;
  readonly mtime: number;
  readonly settings: string;
}

/** What decides how a file is read: change it and every file of the source is read again (and replaces its batch). */
export function parseSettings(source: FileSourcePlan): string {
  // Renames decide the bronze names; left out when there are none, so existing files are not read again for nothing.
  return JSON.stringify({ format: source.format, csv: source.csv, required: source.requiredColumns, ...(source.renamed ? { renamed: source.renamed } : {}) });
}

/**
 * Stages one file and appends it to bronze as one batch, inside the caller's transaction. Shared with the HTTP source,
 * which pages an API into a JSON Lines extract and ingests it here: `rel` is then the request (without secrets), the
 * batch gets the strategy as its `loadKind`, and no landing-file record is kept (`recordFile: false`).
 */
export async function ingestFile(
  ctx: StepContext,
  tx: SqlSession,
  source: FileSourcePlan,
  rel: string,
  abs: string,
  facts: FileFacts,
  options: { readonly loadKind?: string; readonly recordFile?: boolean } = {},
): Promise<{ batchId: number; rows: number; malformedRows: number; schemaNotes: readonly string[] }> {
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
  const fileColumns = staged.columns.map((c) => c.name);
  if (!facts.scan) checkColumnNames(fileColumns, undefined);
  // Declared renames: the file's old names land under the new ones, and required columns are checked after renaming.
  const renames = renameColumns(source, fileColumns);
  const columns = fileColumns.map((c) => renames.get(c) ?? c);
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
  const { notes: schemaNotes, batchId } = await ensureBronzeTable(ctx, tx, source.name, { columns: staged.columns.map((c) => ({ name: renames.get(c.name) ?? c.name, type: c.type })) }, {
    file: rel,
    renamed: new Map([...renames.entries()].map(([from, to]) => [to, from])),
  });
  // Batch ids count per source (one past the last, read in this transaction): one step ingests a source's files in
  // path order, so the numbering is the same however many sources are ingested side by side, and a re-run after a
  // crash numbers exactly as before.
  const ingestedAt = ctx.runStartedAt;
  // Clean rows fill, in order, the record numbers the rejected records did not take: with rejects at records
  // r1 < r2 < ..., clean row k is record k + #{ j : r_j - j < k }.
  const gaps = rejects.map((r, j) => r.record - (j + 1));
  const rowNumber =
    gaps.length === 0
      ? `${staged.rowIndexExpr} + 1`
      : `${staged.rowIndexExpr} + 1 + (SELECT count(*) FROM (VALUES ${gaps.map((g) => `(${g})`).join(', ')}) AS gaps(g) WHERE gaps.g < ${staged.rowIndexExpr} + 1)`;
  // Hashed under the bronze names: a row that arrives under an old column name hashes as it would under the new one.
  const fileName = new Map(fileColumns.map((c) => [renames.get(c) ?? c, c]));
  const sorted = [...columns].sort();
  const hash = d.rowHash(sorted.flatMap((c) => [d.literal(c), d.quoteIdent(fileName.get(c) ?? c)]));
  if (staged.rows > 0) await tx.execute(
    `INSERT INTO ${bronze} (${[...columns.map((c) => d.quoteIdent(c)), '_batch_id', '_source_file', '_source_row', '_ingested_at', '_row_hash'].join(', ')})
     SELECT ${fileColumns.map((c) => d.quoteIdent(c)).join(', ')}, $1, $2, ${rowNumber}, $3, ${hash}
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
    `INSERT INTO refinery.batches (batch_id, source, path, content_hash, size_bytes, rows, rejected_rows, run_id, ingested_at, previous_batch_id, load_kind)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [batchId, source.name, rel, facts.sha256, facts.bytes, staged.rows + rejects.length, rejects.length, ctx.runId, ingestedAt, facts.previousBatchId ?? null, options.loadKind ?? 'files'],
  );
  if (options.recordFile !== false) await tx.execute(
    `INSERT INTO refinery.files (source, path, content_hash, status, batch_id, run_id, seen_at, reason, size_bytes, mtime_ms, settings) VALUES ($1, $2, $3, 'ingested', $4, $5, $6, NULL, $7, $8, $9)`,
    [source.name, rel, facts.sha256, batchId, ctx.runId, ctx.clock.now(), facts.size, facts.mtime, facts.settings],
  );
  return { batchId, rows: staged.rows, malformedRows: rejects.length, schemaNotes };
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

/**
 * Creates bronze.<name> or evolves it for the batch about to be written (new columns added, types widened, never a
 * column dropped), recording the schema history; see bronze-schema.ts. Shared with database sources. Returns what
 * the batch changed or lacked, in words, and the batch's id.
 */
export async function ensureBronzeTable(ctx: StepContext, tx: SqlSession, name: string, staged: Pick<StagedFile, 'columns'>, arrival: BronzeArrival = {}): Promise<{ notes: readonly string[]; batchId: number }> {
  // The row hash's column type is the engine's to choose (its storage suits hash text); the others are plain.
  const typeOf = (c: (typeof BRONZE_LINEAGE)[number]): string => (c === '_row_hash' ? ctx.warehouse.dialect.hashTextType() : LINEAGE_TYPES[c]);
  const lineage = { columns: BRONZE_LINEAGE.map((c) => ({ name: c, type: typeOf(c) })), notData: [...BRONZE_LINEAGE, ...CHANGE_LINEAGE] };
  const result = await evolveBronzeTable(ctx, tx, name, staged.columns, lineage, arrival);
  if (result.refusal) throw new Refusal(result.refusal);
  return { notes: result.notes, batchId: result.batchId };
}

/**
 * The bronze name of each column of a file, after the source's declared renames (file name → bronze name). A file
 * holding both a column and the column it is renamed to cannot be stored without dropping one: it is refused.
 */
function renameColumns(source: FileSourcePlan, columns: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const renamed = source.renamed ?? {};
  if (Object.keys(renamed).length === 0) return out;
  const taken = new Map(columns.map((c) => [c.toLowerCase(), c]));
  for (const column of columns) {
    const to = renamed[column];
    if (to === undefined) continue;
    const clash = taken.get(to.toLowerCase()) ?? [...out.entries()].find(([, t]) => t.toLowerCase() === to.toLowerCase())?.[0];
    if (clash !== undefined && clash !== column) {
      throw new Refusal(`the file has both '${column}' and '${clash}', and sources.${source.name}.renamed stores '${column}' as '${to}': one would overwrite the other`);
    }
    out.set(column, to);
  }
  return out;
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
