// PostgreSQL extraction for the incremental benchmark: a 1,000,000-row table in a scratch schema, extracted into
// bronze by a Refinery project with a `kind: 'postgres'` source, strategy `cursor` (first full read) and strategy
// `cdc` (initial snapshot, then streaming the changes of an UPDATE of every row). Schemas, replication slots and
// publications are removed afterwards, whatever happens.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { availableParallelism } from 'node:os';
import { systemBusyMs } from './machine.mjs';

const URL_ENV = 'REFINERY_BENCH_PG_URL';
const STATUSES = ['active', 'inactive', 'suspended', 'pending'];

/** Is the server there (and does it allow logical decoding)? */
export async function postgresStatus(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const { rows } = await client.query(`SELECT current_setting('wal_level') AS wal_level, current_setting('server_version') AS version`);
    return { ok: true, walLevel: rows[0].wal_level, version: rows[0].version };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Runs `repeats` measurements of each strategy. `refinery` is { openProject, runPipeline }; `log` prints progress.
 * Returns { rows, cursor: [...], cdcSnapshot: [...], cdcStream: [...], cdcStreamBatched: [...], ... }, each entry
 * { ms, rows, rowsPerSecond, runMs }.
 */
export async function benchPostgres({ url, rows, repeats, threads, refinery, log }) {
  const schema = `refinery_bench_${Math.random().toString(36).slice(2, 10)}`;
  const table = `${schema}.customers`;
  const projects = { cursor: 'bench_cursor', cdc: 'bench_cdc' };
  const slot = `refinery_${projects.cdc}_crm`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const work = mkdtempSync(join(tmpdir(), 'refinery-bench-pg-'));
  process.env[URL_ENV] = url;
  const cleanup = async () => {
    await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, [slot]).catch(() => undefined);
    await admin.query(`DROP PUBLICATION IF EXISTS ${slot}`).catch(() => undefined);
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  };
  const onSignal = () => {
    cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  try {
    log(`PostgreSQL: creating ${rows.toLocaleString('en')} rows in ${table} (generate_series) ...`);
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, name text, email text, phone text, country text, status text, signup_date date, updated_at timestamp NOT NULL)`);
    await admin.query(
      `INSERT INTO ${table}
       SELECT i, 'Customer ' || i, 'customer' || i || '@example.com', '+1 555 ' || lpad((i % 10000000)::text, 7, '0'),
              (ARRAY['US','GB','FR','DE','NL'])[1 + i % 5], (ARRAY[${STATUSES.map((s) => `'${s}'`).join(',')}])[1 + i % 4],
              DATE '2020-01-01' + (i % 1500), TIMESTAMP '2024-01-01 00:00:00' + i * INTERVAL '1 second'
       FROM generate_series(1, ${rows}) AS t(i)`,
    );
    await admin.query(`VACUUM ANALYZE ${table}`);
    const result = { rows, table: 'customers (id integer PRIMARY KEY, name, email, phone, country, status text, signup_date date, updated_at timestamp)', cursor: [], cdcSnapshot: [], cdcStream: [], cdcServerDecode: [], cdcStreamBatched: [], cdcServerDecodeBatched: [], floor: [] };

    const project = (name, load) => {
      const dir = mkdtempSync(join(work, `${name}-`));
      writeFileSync(
        join(dir, 'refinery.config.ts'),
        `import { defineProject } from 'refinery';
export default defineProject({
  name: '${name}',
  warehouse: { threads: ${threads} },
  sources: { crm: { kind: 'postgres', connection: { urlEnv: '${URL_ENV}' }, table: '${table}', key: 'id', load: ${JSON.stringify(load)} } },
});
`,
      );
      return dir;
    };
    const measure = async (open, expectRows, what) => {
      // The step's phases, from the progress it reports (extracting, staging, writing bronze, acknowledging).
      const details = [];
      const progress = (e) => {
        if (e.step !== 'bronze.crm') return;
        if (e.type === 'step-detail') {
          // "extracting from ... (cursor): 48 MB received, ..." lines say how far a phase got, not a new phase.
          const phase = e.detail.replace(/ \(.*$/, '');
          if (details.at(-1)?.phase !== phase) details.push({ phase, at: performance.now() });
        }
        else if (e.type === 'step-end') details.push({ phase: 'end', at: performance.now() });
      };
      const [t0, busy0] = [performance.now(), systemBusyMs()];
      const report = await refinery.runPipeline(open.plan, open.warehouse, { progress });
      const runMs = performance.now() - t0;
      // How busy the whole machine was (this process, the PostgreSQL server, anything else): near 100%, the work is
      // bound by the CPUs there are, not by waiting.
      const busy1 = systemBusyMs();
      const machineBusy = busy0 === undefined || busy1 === undefined ? null : Number(((busy1 - busy0) / (runMs * availableParallelism())).toFixed(2));
      const phases = details.slice(0, -1).map((d, i) => ({ phase: d.phase, ms: Math.round(details[i + 1].at - d.at) }));
      const step = report.steps.find((s) => s.step === 'bronze.crm');
      if (report.status !== 'success' || !step) throw new Error(`${what}: the run ${report.status}: ${report.steps.find((s) => s.status === 'failed')?.message ?? ''}`);
      if (step.rowsIn !== expectRows) throw new Error(`${what}: expected ${expectRows} rows into bronze, got ${step.rowsIn} (${step.message ?? ''})`);
      const { rows: counted } = await open.warehouse.query(`SELECT count(*) AS n FROM bronze.crm WHERE _batch_id = (SELECT max(_batch_id) FROM bronze.crm)`);
      if (Number(counted[0]?.n) !== expectRows) throw new Error(`${what}: bronze.crm's last batch holds ${counted[0]?.n} rows, expected ${expectRows}`);
      return { ms: step.durationMs, runMs, rows: step.rowsIn, rowsPerSecond: Math.round(step.rowsIn / (step.durationMs / 1000)), message: step.message, phases, machineBusy };
    };

    for (let r = 1; r <= repeats; r++) {
      // cursor: the first run reads everything (no watermark yet) — the full read into bronze.
      const dir = project(projects.cursor, { strategy: 'cursor', cursor: 'updated_at' });
      const open = await refinery.openProject(dir);
      try {
        const m = await measure(open, rows, 'cursor');
        result.cursor.push(m);
        log(`  repeat ${r}/${repeats}  pg cursor (first read)   ${(m.ms / 1000).toFixed(2)} s  ${m.rowsPerSecond.toLocaleString('en')} rows/s  machine ${busyText(m)} busy  (${phaseList(m.phases)})`);
      } finally {
        await open.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
    for (let r = 1; r <= repeats; r++) {
      // The floor of a full read: the same COPY ... TO STDOUT to a file, and one hand-written DuckDB statement that
      // reads it into a fresh bronze table with the same lineage (row number, row hash) — no state, no checks.
      const m = await extractFloor(admin, table, rows, work, threads);
      result.floor.push(m);
      log(`  repeat ${r}/${repeats}  pg floor (COPY + SQL)    ${(m.ms / 1000).toFixed(2)} s  ${m.rowsPerSecond.toLocaleString('en')} rows/s  (COPY ${(m.copyMs / 1000).toFixed(2)} s, DuckDB ${(m.loadMs / 1000).toFixed(2)} s)`);
    }
    for (let r = 1; r <= repeats; r++) {
      // cdc: a fresh warehouse takes the initial snapshot (and creates the slot), then every row is updated and
      // the next run streams those 1,000,000 changes from the slot.
      const dir = project(projects.cdc, { strategy: 'cdc' });
      const open = await refinery.openProject(dir);
      try {
        const snap = await measure(open, rows, 'cdc snapshot');
        result.cdcSnapshot.push(snap);
        log(`  repeat ${r}/${repeats}  pg cdc snapshot          ${(snap.ms / 1000).toFixed(2)} s  ${snap.rowsPerSecond.toLocaleString('en')} rows/s  machine ${busyText(snap)} busy  (${phaseList(snap.phases)})`);
        await admin.query(`UPDATE ${table} SET status = (ARRAY[${STATUSES.map((s) => `'${s}'`).join(',')}])[1 + (id + ${r}) % 4], updated_at = updated_at + INTERVAL '1 day'`);
        // What no client can avoid: the server decoding the slot's changes (peeked, so Refinery reads them next),
        // with the same decoding memory Refinery sets. Context for the streaming figure, not a floor.
        const decode = await serverDecode(admin, slot, slot);
        result.cdcServerDecode.push(decode);
        log(`  repeat ${r}/${repeats}  pg server decode alone   ${(decode.ms / 1000).toFixed(2)} s  ${decode.rowsPerSecond.toLocaleString('en')} changes/s`);
        const stream = await measure(open, rows, 'cdc streaming');
        result.cdcStream.push(stream);
        log(`  repeat ${r}/${repeats}  pg cdc stream (updates)  ${(stream.ms / 1000).toFixed(2)} s  ${stream.rowsPerSecond.toLocaleString('en')} rows/s  machine ${busyText(stream)} busy  (${phaseList(stream.phases)})`);
        // The same million updates as an application makes them: in many transactions (100 of 10,000 rows here),
        // not one. The server decodes a transaction that size without holding a million changes in its reorder
        // buffer, so its share is smaller; everything on Refinery's side is the same work.
        const batches = 100;
        const per = Math.ceil(rows / batches);
        for (let b = 0; b < batches; b++) {
          await admin.query(`UPDATE ${table} SET status = (ARRAY[${STATUSES.map((s) => `'${s}'`).join(',')}])[1 + (id + ${r + 1}) % 4], updated_at = updated_at + INTERVAL '1 day' WHERE id > ${b * per} AND id <= ${(b + 1) * per}`);
        }
        const decodeBatched = await serverDecode(admin, slot, slot);
        result.cdcServerDecodeBatched.push(decodeBatched);
        log(`  repeat ${r}/${repeats}  pg server decode alone   ${(decodeBatched.ms / 1000).toFixed(2)} s  ${decodeBatched.rowsPerSecond.toLocaleString('en')} changes/s  (${batches} transactions)`);
        const batched = await measure(open, rows, 'cdc streaming (many transactions)');
        result.cdcStreamBatched.push(batched);
        log(`  repeat ${r}/${repeats}  pg cdc stream (${batches} txns)  ${(batched.ms / 1000).toFixed(2)} s  ${batched.rowsPerSecond.toLocaleString('en')} rows/s  machine ${busyText(batched)} busy  (${phaseList(batched.phases)})`);
      } finally {
        await open.close();
        rmSync(dir, { recursive: true, force: true });
      }
      await admin.query(`VACUUM ${table}`);
    }
    return result;
  } finally {
    process.removeListener('SIGINT', onSignal);
    await cleanup();
    const { rows: left } = await admin.query(`SELECT slot_name FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
    if (left.length > 0) console.error(`warning: replication slot ${slot} is still there (active?); drop it with SELECT pg_drop_replication_slot('${slot}')`);
    await admin.end();
    rmSync(work, { recursive: true, force: true });
  }
}

const busyText = (m) => (m.machineBusy === null ? '?' : `${Math.round(m.machineBusy * 100)}%`);
const phaseList = (phases) => phases.map((p) => `${p.phase} ${(p.ms / 1000).toFixed(2)} s`).join(', ');

const COLUMNS = ['id', 'name', 'email', 'phone', 'country', 'status', 'signup_date', 'updated_at'];

/** The server's share of a CDC read: decode the pending changes and count them, nothing sent but the count. */
async function serverDecode(client, slot, publication) {
  await client.query(`SELECT set_config('logical_decoding_work_mem', '256MB', false)`);
  const { rows: [{ upto }] } = await client.query(`SELECT pg_current_wal_lsn()::text AS upto`);
  const t0 = performance.now();
  const { rows: [{ n }] } = await client.query(
    `SELECT count(*) AS n FROM pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, NULL, 'proto_version', '1', 'publication_names', $3)`,
    [slot, upto, publication],
  );
  const ms = performance.now() - t0;
  await client.query(`RESET logical_decoding_work_mem`);
  return { ms, messages: Number(n), rowsPerSecond: Math.round(Number(n) / (ms / 1000)) };
}

async function extractFloor(client, table, rows, work, threads) {
  const dir = mkdtempSync(join(work, 'floor-'));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'extract.csv');
  const t0 = performance.now();
  const [schema, name] = table.split('.');
  const select = `SELECT ${COLUMNS.map((c) => `"${c}"`).join(', ')} FROM "${schema}"."${name}" ORDER BY "updated_at"`;
  await pipeline(client.query(copyStreams.to(`COPY (${select}) TO STDOUT WITH (FORMAT csv, HEADER true, NULL '\\N')`)), createWriteStream(file));
  const copyMs = performance.now() - t0;
  const instance = await DuckDBInstance.create(join(dir, 'floor.duckdb'), { threads: String(threads) });
  const connection = await instance.connect();
  const t1 = performance.now();
  const hash = `md5(to_json([${[...COLUMNS].sort().flatMap((c) => [`'${c}'`, `CAST("${c}" AS VARCHAR)`]).join(', ')}]))`;
  await connection.run(
    `CREATE TABLE crm AS SELECT ${COLUMNS.map((c) => `"${c}"`).join(', ')}, 1::BIGINT AS _batch_id, 'floor' AS _source_file, row_number() OVER () AS _source_row,
       now()::TIMESTAMP AS _ingested_at, ${hash} AS _row_hash, NULL::VARCHAR AS _load_error, NULL::VARCHAR AS _raw_line, 'insert' AS _op, NULL::VARCHAR AS _lsn
     FROM read_csv('${file}', header = true, auto_detect = false, columns = {${COLUMNS.map((c) => `'${c}': 'VARCHAR'`).join(', ')}},
       delim = ',', quote = '"', escape = '"', nullstr = '\\N', allow_quoted_nulls = false, strict_mode = true)`,
  );
  const loadMs = performance.now() - t1;
  const [{ n }] = (await connection.runAndReadAll('SELECT count(*) AS n FROM crm')).getRowObjectsJson();
  connection.closeSync();
  instance.closeSync();
  rmSync(dir, { recursive: true, force: true });
  if (Number(n) !== rows) throw new Error(`floor: expected ${rows} rows, got ${n}`);
  const ms = copyMs + loadMs;
  return { ms, copyMs, loadMs, rows, rowsPerSecond: Math.round(rows / (ms / 1000)) };
}
