import { join } from 'node:path';
import { statSync } from 'node:fs';
import type { FileSourcePlan, Plan, PostgresSourcePlan, SilverPlan } from '../config/plan.js';
import { BRONZE_LINEAGE, CHANGE_LINEAGE, knownFiles, parseSettings, seenUntouched, seenWithContent } from '../layers/bronze-ingest.js';
import { compileCandidates } from '../layers/silver-sql.js';
import { scanCsv } from '../sources/csv-record-scanner.js';
import { hashFile, listLandingFiles } from '../sources/landing-files.js';
import { connect, quoteIdent, quoteTable } from '../sources/postgres/postgres-connection.js';
import { tableColumns } from '../sources/postgres/postgres-extract.js';
import { parseRelation, renamedColumns } from '../sources/postgres/pgoutput-csv.js';
import { assertCdcTable, columnsRenamedError, flushedLsn, lsnValue, publicationError, publicationProblems, resnapshotCommand, slotLostError, slotState, truncatedHint } from '../sources/postgres/pgoutput-changes.js';
import type { SqlSession, Warehouse } from '../warehouse/warehouse.js';
import { readSourceState } from './source-state.js';
import { RefineryError } from '../errors.js';
import { previewConnector } from './connector-preview.js';
import { formatBytes, plural } from '../text.js';

/**
 * `refinery plan`: what the next run will read, per source, and roughly what it will do to silver — without
 * changing anything. New files are staged and judged by the silver rules inside a transaction that is rolled back.
 */
export interface SourcePreview {
  readonly source: string;
  readonly kind: 'files' | 'postgres' | 'mysql' | 'http';
  /** One plain sentence: what will be read. */
  readonly reads: string;
  readonly files?: readonly { readonly path: string; readonly status: 'new' | 'changed' | 'unchanged'; readonly bytes: number; readonly records?: number }[];
  /** A cdc source: the changes waiting in its slot, by kind. */
  readonly changes?: { readonly inserts: number; readonly updates: number; readonly deletes: number };
  /** A cdc source: the WAL its slot keeps on the server, which the read decodes (every table's, not just this one's). */
  readonly walBytes?: number;
  /** Why the run will stop at this source, as the run will say it (its code, message and fix), when it will. */
  readonly stops?: { readonly code: string; readonly message: string; readonly hint?: string };
  /** Per silver table fed by this source: keys it will insert or update, and rows it will quarantine. */
  readonly silver?: readonly { readonly table: string; readonly inserts: number; readonly updates: number; readonly quarantined: number }[];
}

class Rollback extends Error {}

export async function previewRun(plan: Plan, warehouse: Warehouse): Promise<SourcePreview[]> {
  const out: SourcePreview[] = [];
  for (const source of plan.sources) {
    out.push(source.kind === 'files' ? await previewFiles(plan, warehouse, source) : source.kind === 'postgres' ? await previewDatabase(warehouse, source) : await previewConnector(warehouse, source));
  }
  return out;
}

async function previewFiles(plan: Plan, warehouse: Warehouse, source: FileSourcePlan): Promise<SourcePreview> {
  // The same tests the run makes (bronze-ingest.ts): changed parse settings make a file `changed` even when its bytes are not.
  const known = await knownFiles(warehouse, source.name);
  const settings = parseSettings(source);
  const files: { path: string; status: 'new' | 'changed' | 'unchanged'; bytes: number; records?: number }[] = [];
  for (const rel of await listLandingFiles(plan.projectDir, source.path)) {
    const abs = join(plan.projectDir, rel);
    const stat = statSync(abs);
    const prior = known.get(rel) ?? [];
    if (seenUntouched(prior, stat, settings)) {
      files.push({ path: rel, status: 'unchanged', bytes: stat.size });
      continue;
    }
    const scan = source.format === 'csv' ? await scanCsv(abs, source.csv) : undefined;
    const { sha256 } = scan ?? (await hashFile(abs));
    if (seenWithContent(prior, sha256, settings)) {
      files.push({ path: rel, status: 'unchanged', bytes: stat.size });
      continue;
    }
    files.push({ path: rel, status: prior.length > 0 ? 'changed' : 'new', bytes: stat.size, ...(scan ? { records: scan.records } : {}) });
  }
  const incoming = files.filter((f) => f.status !== 'unchanged');
  const bytes = incoming.reduce((a, f) => a + f.bytes, 0);
  const silver = incoming.length > 0 ? await previewSilver(plan, warehouse, source, incoming.map((f) => f.path)) : [];
  return {
    source: source.name,
    kind: 'files',
    reads: incoming.length === 0 ? 'nothing: no new or changed files' : `${incoming.length} file${incoming.length === 1 ? '' : 's'} (${bytes.toLocaleString('en-US')} bytes)`,
    files,
    silver,
  };
}

/** Stages the incoming files and runs each silver table's rules over them, in a transaction that is rolled back. */
async function previewSilver(plan: Plan, warehouse: Warehouse, source: FileSourcePlan, paths: readonly string[]): Promise<NonNullable<SourcePreview['silver']>> {
  const tables = plan.silver.filter((t) => t.source === source.name && t.materialize !== 'scd2');
  if (tables.length === 0 || !(await warehouse.introspector.tableExists('bronze', source.name))) return [];
  const d = warehouse.dialect;
  const result: { table: string; inserts: number; updates: number; quarantined: number }[] = [];
  try {
    await warehouse.transaction(async (tx) => {
      await tx.execute(`CREATE TEMP TABLE plan_bronze AS SELECT * FROM ${d.table('bronze', source.name)} WHERE FALSE`);
      for (const [i, rel] of paths.entries()) {
        const abs = join(plan.projectDir, rel);
        const scan = source.format === 'csv' ? await scanCsv(abs, source.csv) : undefined;
        const staged = await warehouse.files.stage(tx, { file: abs, format: source.format, csv: source.csv, ...(scan?.header ? { columns: scan.header } : {}), stagingTable: `plan_stage_${i}` });
        const bronzeColumns = new Set((await warehouse.introspector.columns('bronze', source.name, tx)).map((c) => c.name));
        const shared = staged.columns.map((c) => c.name).filter((c) => bronzeColumns.has(c));
        if (shared.length === 0) continue;
        await tx.execute(
          `INSERT INTO plan_bronze (${shared.map((c) => d.quoteIdent(c)).join(', ')}, _batch_id, _source_file, _source_row)
           SELECT ${shared.map((c) => d.quoteIdent(c)).join(', ')}, ${Number.MAX_SAFE_INTEGER}, ${d.literal(rel)}, ${staged.rowIndexExpr} + 1 FROM ${d.quoteIdent(`plan_stage_${i}`)}`,
        );
      }
      const columns = (await warehouse.introspector.columns('bronze', source.name, tx)).filter((c) => !([...BRONZE_LINEAGE, ...CHANGE_LINEAGE] as readonly string[]).includes(c.name));
      for (const table of tables) result.push(await judge(tx, warehouse, table, columns));
      throw new Rollback();
    });
  } catch (error) {
    if (!(error instanceof Rollback)) throw error;
  }
  return result;
}

async function judge(tx: SqlSession, warehouse: Warehouse, table: SilverPlan, bronzeColumns: { name: string; type: string }[]): Promise<{ table: string; inserts: number; updates: number; quarantined: number }> {
  const d = warehouse.dialect;
  const candidates = compileCandidates(d, { table, bronzeColumns, sourceTable: 'plan_bronze', batches: { after: 0, upTo: Number.MAX_SAFE_INTEGER } });
  const keys = table.key.map((k) => d.quoteIdent(k));
  const silverExists = await warehouse.introspector.tableExists('silver', table.name, tx);
  const existing = keys.length > 0 && silverExists ? `(${keys.map((k) => `c.${k}`).join(', ')}) IN (SELECT ${keys.join(', ')} FROM ${d.table('silver', table.name)})` : 'FALSE';
  const distinctKeys = keys.length > 0 ? `DISTINCT (${keys.map((k) => `c.${k}`).join(', ')})` : '*';
  const { rows } = await tx.query(
    `SELECT count(${distinctKeys}) FILTER (WHERE c._reason IS NULL AND NOT ${existing}) AS inserts,
            count(${distinctKeys}) FILTER (WHERE c._reason IS NULL AND ${existing}) AS updates,
            count(*) FILTER (WHERE c._reason IS NOT NULL) AS quarantined
     FROM (${candidates}) c`,
  );
  const r = rows[0] ?? {};
  return { table: `silver.${table.name}`, inserts: Number(r.inserts ?? 0), updates: Number(r.updates ?? 0), quarantined: Number(r.quarantined ?? 0) };
}

async function previewDatabase(warehouse: Warehouse, source: PostgresSourcePlan): Promise<SourcePreview> {
  const state = await readSourceState(warehouse, source.name);
  const client = await connect(source);
  try {
    // A missing table is the user's to fix, said as the run says it, not a server error from the first query.
    const all = await tableColumns(client, source.table);
    const table = quoteTable(source.table);
    const count = async (where = ''): Promise<number> => Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} ${where}`)).rows[0]?.n ?? 0);
    switch (source.load.strategy) {
      case 'full':
        return { source: source.name, kind: 'postgres', reads: `a full extract of ${source.table}: ${(await count()).toLocaleString('en-US')} rows, replacing the previous one` };
      case 'snapshot':
        return { source: source.name, kind: 'postgres', reads: `all ${(await count()).toLocaleString('en-US')} rows of ${source.table}, compared by ${source.key.join(', ')} with the last snapshot to find inserts, updates and deletes` };
      case 'cursor': {
        const cursor = source.load.cursor as string;
        const watermark = state.get('watermark') ?? source.load.since;
        if (watermark === undefined) return { source: source.name, kind: 'postgres', reads: `all ${(await count()).toLocaleString('en-US')} rows of ${source.table} (no watermark yet)` };
        const lag = source.load.lagMs > 0 ? ` - interval '${Math.round(source.load.lagMs)} milliseconds'` : '';
        const { rows } = await client.query<{ n: string; hi: string | null }>(`SELECT count(*) AS n, max(${quoteIdent(cursor)})::text AS hi FROM ${table} WHERE ${quoteIdent(cursor)} >= ($1::text)::${await cursorType(client, source)}${lag}`, [watermark]);
        return { source: source.name, kind: 'postgres', reads: `rows of ${source.table} with ${cursor} from ${watermark}${lag ? ` minus the ${Math.round(source.load.lagMs / 1000)} s lag` : ''} up to ${rows[0]?.hi ?? watermark}: ${Number(rows[0]?.n ?? 0).toLocaleString('en-US')} rows (those already loaded are dropped)` };
      }
      case 'cdc': {
        const lsn = state.get('cdc_lsn');
        const slot = await slotState(client, source.load.slot);
        const first = lsn === undefined || !slot.exists;
        // What stops the run before it reads anything is said instead, as the run will say it.
        const stopping = (error: RefineryError): SourcePreview => ({ source: source.name, kind: 'postgres', reads: `nothing, the run will stop: ${error.message} ${error.data.hint ?? ''}`, stops: stopData(error) });
        if (!first && slot.walStatus === 'lost') return stopping(slotLostError(source, lsn));
        const stop = await assertCdcTable(client, source, !first).then(() => undefined, (error: unknown) => (error instanceof RefineryError ? error : Promise.reject(error)));
        if (stop) return stopping(stop);
        // What the run would stop on: a publication that cannot carry every change (see publicationProblems).
        const columns = source.columns.length > 0 ? source.columns : all.filter((c) => !c.generated).map((c) => c.name);
        const problems = await publicationProblems(client, source.load.publication, source.table, columns);
        const unfit = problems !== 'missing' && problems.length > 0 ? `; publication ${source.load.publication} cannot carry every change (${problems.map((p) => p.problem).join('; ')}), which will stop the run` : '';
        const unfitStop = problems !== 'missing' && problems.length > 0 ? { stops: stopData(publicationError(source, problems, !first)) } : {};
        if (first) return { source: source.name, kind: 'postgres', reads: `an initial snapshot of ${(await count()).toLocaleString('en-US')} rows; creates replication slot ${source.load.slot}${problems === 'missing' ? ` and publication ${source.load.publication}` : ''}${unfit}`, ...unfitStop };
        if (problems === 'missing') return stopping(publicationError(source, problems, true));
        const upto = await flushedLsn(client);
        // Counted by message kind (a pgoutput message's first byte: I, U, D, and T for a truncate), so begins,
        // commits and relation descriptions do not pass for changes, and by relation (its id, the table's oid,
        // follows the kind; a truncate lists its relations after a count and a flags byte): a publication may
        // carry other tables too. A transaction committed before the stored position was loaded already (a run
        // stopped between its commit and telling the slot): the run drops it by the commit LSN its Begin carries
        // (8 bytes after the kind), and so does this count. Nothing is consumed: the peek leaves the slot.
        // Counted per version of the table too (each Relation message of it starts one, and pgoutput sends one before
        // the first change under it), with that version's columns: changes made while a column had another name
        // stop the run (cdc_columns_renamed), and this says so first.
        const { rows } = await client.query<{ relation: Buffer | null; i: string; u: string; d: string; t: string }>(
          `SELECT ver, (array_agg(rdata) FILTER (WHERE rdata IS NOT NULL))[1] AS relation,
             count(*) FILTER (WHERE kind = 73 AND ours AND kept) AS i, count(*) FILTER (WHERE kind = 85 AND ours AND kept) AS u, count(*) FILTER (WHERE kind = 68 AND ours AND kept) AS d,
             count(*) FILTER (WHERE kind = 84 AND kept AND EXISTS (SELECT 1 FROM generate_series(0, (get_byte(data, 1) << 24) + (get_byte(data, 2) << 16) + (get_byte(data, 3) << 8) + get_byte(data, 4) - 1) AS r(n) WHERE substring(data FROM 7 + 4 * n FOR 4) = rel)) AS t
           FROM (SELECT data, kind, ours, rel, rdata, ver, max(commit_lsn) OVER (PARTITION BY xid::text) >= ($5::pg_lsn - '0/0'::pg_lsn)::bigint AS kept
                 FROM (SELECT data, xid, kind, ours, rel, commit_lsn, CASE WHEN kind = 82 AND ours THEN data END AS rdata,
                         count(*) FILTER (WHERE kind = 82 AND ours) OVER (ORDER BY n) AS ver
                       FROM (SELECT data, xid, n, get_byte(data, 0) AS kind, substring(data FROM 2 FOR 4) = rel AS ours, rel,
                               CASE WHEN get_byte(data, 0) = 66 THEN ('x' || encode(substring(data FROM 2 FOR 8), 'hex'))::bit(64)::bigint END AS commit_lsn
                             FROM pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, NULL, 'proto_version', '1', 'publication_names', $3) WITH ORDINALITY AS p(lsn, xid, data, n),
                                  (SELECT int4send($4::regclass::oid::int4) AS rel) AS r) AS c) AS v) AS m
           GROUP BY ver ORDER BY ver`,
          [source.load.slot, upto, source.load.publication, quoteTable(source.table), lsn],
        );
        const sum = (field: 'i' | 'u' | 'd' | 't'): number => rows.reduce((n, row) => n + Number(row[field] ?? 0), 0);
        const tableNow = new Set(all.map((c) => c.name));
        let renamed: RefineryError | undefined;
        for (const row of rows) {
          const made = Number(row.i) + Number(row.u) + Number(row.d);
          const found = row.relation && made > 0 ? renamedColumns(parseRelation(row.relation).columns, columns, tableNow) : undefined;
          if (found) {
            renamed = columnsRenamedError(source, { ...found, changes: made });
            break;
          }
        }
        const changes = { inserts: sum('i'), updates: sum('u'), deletes: sum('d') };
        // What the read costs is the WAL it decodes, and logical decoding reads every table's: a quiet table in a
        // busy database can have few changes behind gigabytes of WAL, which its slot also keeps on the server.
        const walBytes = slot.restartLsn ? Math.max(0, lsnValue(upto) - lsnValue(slot.restartLsn)) : 0;
        // A truncate stops the run (cdc_truncated): say so now, with the fix.
        const truncates = sum('t');
        // Past max_slot_wal_keep_size the next checkpoint removes WAL the slot needs: say so while a run can still save it.
        const unreserved = slot.walStatus === 'unreserved' ? `; the server is about to remove WAL this slot still needs (past max_slot_wal_keep_size): run it now, or the next run will need a new snapshot` : '';
        const truncated = truncates > 0 ? `; ${plural(truncates, 'TRUNCATE')} waiting too, which will stop the run: take a new snapshot with ${resnapshotCommand(source)}` : '';
        const renaming = renamed ? `; changes made while columns had other names (${String(renamed.data.value)}) waiting too, which will stop the run: take a new snapshot with ${resnapshotCommand(source)}` : '';
        return {
          source: source.name,
          kind: 'postgres',
          reads: `changes from LSN ${lsn} to ${upto} waiting in slot ${source.load.slot}: ${plural(changes.inserts, 'insert')}, ${plural(changes.updates, 'update')}, ${plural(changes.deletes, 'delete')} (decoding ${formatBytes(walBytes)} of WAL the slot keeps on the server)${unreserved}${truncated}${renaming}${unfit}`,
          changes,
          walBytes,
          // The run checks the publication first, then a truncate, then renamed columns.
          ...(problems.length > 0 ? unfitStop : truncates > 0 ? { stops: { code: 'cdc_truncated', message: `${source.table} was truncated at the source (${plural(truncates, 'TRUNCATE')} waiting in the slot).`, hint: truncatedHint(source) } } : renamed ? { stops: stopData(renamed) } : {}),
        };
      }
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

function stopData(error: RefineryError): NonNullable<SourcePreview['stops']> {
  return { code: error.code, message: error.message, ...(error.data.hint ? { hint: error.data.hint } : {}) };
}

async function cursorType(client: Awaited<ReturnType<typeof connect>>, source: PostgresSourcePlan): Promise<string> {
  const [schema, name] = source.table.split('.') as [string, string];
  const { rows } = await client.query<{ data_type: string }>(`SELECT data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3`, [schema, name, source.load.cursor]);
  return rows[0]?.data_type ?? 'text';
}
