#!/usr/bin/env node
// Incremental benchmark (issue 3): yesterday 1,000,000 customers, today 1,000 status updates. In one process:
//   - Refinery incremental: a warehouse holding day 1 loads only the day-2 change file (`refinery run`);
//   - Refinery full reload: a fresh warehouse loads the whole day-2 extract;
//   - the floor: hand-written DuckDB SQL doing the same incremental work on a copy of the day-1 warehouse.
// All three must end with identical silver and gold. Then `cursor` and `cdc` extraction of 1,000,000 rows from
// PostgreSQL into bronze.
//
//   npm run bench:incremental                                  # builds, then 1,000,000 rows, 1,000 changes, 3 repeats
//   npm run bench:incremental -- --rows 100000 --repeat 5      # smaller / more repeats
//   npm run bench:incremental -- --no-pg                       # skip PostgreSQL
//   npm run bench:incremental -- --profile                     # time every SQL statement of the incremental run
//
// See bench/README.md for what is measured and what the floor does.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { systemBusyMs } from './machine.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');
if (!existsSync(join(dist, 'index.js')) || !existsSync(join(dist, 'generate', 'load-scenario.js'))) {
  console.error('dist/ is missing or stale: run `npm run build` first (`npm run bench:incremental` does it for you).');
  process.exit(2);
}
const { scaffoldProject, openProject, runPipeline } = await import('../dist/index.js');
const { generateLoadScenario } = await import('../dist/generate/load-scenario.js');
const { runIncrementalFloor } = await import('./incremental-floor.mjs');
const { benchPostgres, postgresStatus } = await import('./incremental-pg.mjs');

const TARGETS = { speedup: 25, maxFloorRatio: 1.5, pgRowsPerSecond: 200_000 };

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    changes: { type: 'string', default: '1000' },
    repeat: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
    seed: { type: 'string', default: '42' },
    'pg-rows': { type: 'string' },
    'pg-url': { type: 'string', default: process.env.REFINERY_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    'no-pg': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`usage: node bench/incremental-bench.mjs [--rows N] [--changes K] [--repeat R] [--threads T] [--seed S] [--pg-rows P] [--pg-url URL] [--no-pg] [--profile] [--keep]
  --rows N      day-1 customers (default 1000000; orders: N/2)
  --changes K   day-2 status updates (default 1000)
  --repeat R    repetitions of every measurement; median and best are reported (default 3)
  --threads T   DuckDB threads for Refinery and the floor (default: all cores, ${availableParallelism()} here)
  --pg-rows P   rows of the PostgreSQL table (default: N)
  --pg-url URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test, or REFINERY_BENCH_PG_URL)
  --no-pg       skip the PostgreSQL extraction
  --profile     time every SQL statement of the incremental run and print the slow ones per step
  --keep        keep the generated data and the warehouses`);
  process.exit(0);
}
const int = (name, min) => {
  const n = Number(args[name]);
  if (!Number.isSafeInteger(n) || n < min) {
    console.error(`--${name} must be a whole number ≥ ${min}, got '${args[name]}'`);
    process.exit(2);
  }
  return n;
};
const rows = int('rows', 1);
const changes = int('changes', 1);
const repeats = int('repeat', 1);
const threads = int('threads', 1);
const seed = int('seed', 0);
args['pg-rows'] ??= String(rows);
const pgRows = int('pg-rows', 1);

const fmt = (ms) => (ms / 1000).toFixed(2);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const stats = (xs) => ({ medianMs: median(xs), bestMs: Math.min(...xs), allMs: xs });
const loads = () => loadavg().map((l) => Number(l.toFixed(2)));

/**
 * Runs `work` and measures, besides its wall time, this process's CPU time (DuckDB threads and JavaScript: far
 * less sensitive to other load than wall time) and the share of the machine's CPUs other processes used meanwhile.
 */
async function cpuTimed(work) {
  const [cpu0, busy0, t0] = [process.cpuUsage(), systemBusyMs(), performance.now()];
  const value = await work();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const busy1 = systemBusyMs();
  const othersShare = busy0 === undefined || busy1 === undefined ? null : Number(Math.max(0, (busy1 - busy0 - cpuMs) / (ms * availableParallelism())).toFixed(2));
  return { value, ms, cpuMs, othersShare };
}
const log = (line) => console.log(line);

const loadStart = loads();
const work = mkdtempSync(join(tmpdir(), 'refinery-bench-incremental-'));
const CHANGES_REL = 'landing/customers/customers_changes.csv';

try {
  log(`Generating ${rows.toLocaleString('en')} customers, ${Math.floor(rows / 2).toLocaleString('en')} orders and ${changes.toLocaleString('en')} day-2 changes (seed ${seed}) ...`);
  let t0 = performance.now();
  const scenario = await generateLoadScenario({ rows, changes, seed, out: join(work, 'data'), threads });
  const generateMs = performance.now() - t0;

  log(`Loading day 1 into the base warehouse (setup, not timed) ...`);
  const base = newProject('base', [scenario.day1.customers], [scenario.day1.orders]);
  t0 = performance.now();
  await runOnce(base, 'day-1 load');
  const day1Ms = performance.now() - t0;
  log(`  day 1 took ${fmt(day1Ms)} s\n`);

  const runs = [];
  const kinds = ['incremental', 'full', 'floor', 'incremental (no OpenLineage)'];
  for (let r = 1; r <= repeats; r++) {
    const run = { repeat: r };
    // Rotate who goes first, so no side always gets the warmest (or coldest) cache.
    const order = [...kinds.slice((r - 1) % kinds.length), ...kinds.slice(0, (r - 1) % kinds.length)];
    for (const kind of order) {
      run[kind] = kind === 'full' ? await fullReload(r) : kind === 'floor' ? await floor(r) : await incremental(r, kind !== 'incremental');
      log(`  repeat ${r}/${repeats}  ${kind.padEnd(29)} ${fmt(run[kind].ms).padStart(7)} s`);
    }
    run.verified = await verify(run);
    for (const kind of kinds) {
      if (!args.keep && run[kind].dir) rmSync(run[kind].dir, { recursive: true, force: true });
      delete run[kind].dir;
      delete run[kind].db;
    }
    runs.push(run);
  }

  let postgres;
  if (!args['no-pg']) {
    const status = await postgresStatus(args['pg-url']);
    if (!status.ok) postgres = { skipped: `no PostgreSQL at ${args['pg-url']}: ${status.reason}` };
    else if (status.walLevel !== 'logical') postgres = { skipped: `wal_level is ${status.walLevel}; cdc needs logical` };
    else {
      log('');
      postgres = { server: `PostgreSQL ${status.version}`, ...(await benchPostgres({ url: args['pg-url'], rows: pgRows, repeats, threads, refinery: { openProject, runPipeline }, log })) };
    }
    if (postgres.skipped) log(`\nPostgreSQL skipped: ${postgres.skipped}`);
  }

  const withCpu = (kind) => ({ ...stats(runs.map((r) => r[kind].ms)), cpuMedianMs: median(runs.map((r) => r[kind].cpuMs)), othersShareMedian: median(runs.map((r) => r[kind].othersShare ?? 0)) });
  const summary = {
    incremental: withCpu('incremental'),
    full: withCpu('full'),
    floor: withCpu('floor'),
    incrementalNoOpenLineage: withCpu('incremental (no OpenLineage)'),
  };
  summary.speedup = { median: summary.full.medianMs / summary.incremental.medianMs, best: summary.full.bestMs / summary.incremental.bestMs };
  summary.vsFloor = { median: summary.incremental.medianMs / summary.floor.medianMs, best: summary.incremental.bestMs / summary.floor.bestMs };
  // How far the hand-written floor itself is from the full reload: the speed-up no incremental load that costs at
  // least the floor can beat on this machine. A faster full reload lowers it.
  summary.floorSpeedup = { median: summary.full.medianMs / summary.floor.medianMs, best: summary.full.bestMs / summary.floor.bestMs };
  summary.noOpenLineageVsFloor = { median: summary.incrementalNoOpenLineage.medianMs / summary.floor.medianMs, best: summary.incrementalNoOpenLineage.bestMs / summary.floor.bestMs };
  // The same ratios in CPU time of this process: what the work costs, whatever else the machine was doing.
  summary.cpu = { speedup: summary.full.cpuMedianMs / summary.incremental.cpuMedianMs, vsFloor: summary.incremental.cpuMedianMs / summary.floor.cpuMedianMs };
  if (postgres && !postgres.skipped) {
    for (const key of ['cursor', 'cdcSnapshot', 'cdcStream', 'cdcServerDecode', 'cdcStreamBatched', 'cdcServerDecodeBatched', 'floor']) {
      const rates = postgres[key].map((m) => m.rowsPerSecond);
      summary[`pg_${key}`] = { medianRowsPerSecond: median(rates), bestRowsPerSecond: Math.max(...rates), medianMs: median(postgres[key].map((m) => m.ms)) };
    }
  }
  const targets = {
    speedup: { target: `≥ ${TARGETS.speedup}×`, median: summary.speedup.median, met: summary.speedup.median >= TARGETS.speedup },
    vsFloor: { target: `≤ ${TARGETS.maxFloorRatio}×`, median: summary.vsFloor.median, met: summary.vsFloor.median <= TARGETS.maxFloorRatio },
    identical: { met: runs.every((r) => r.verified.identical) },
    ...(summary.pg_cursor
      ? Object.fromEntries(['cursor', 'cdcSnapshot', 'cdcStream', 'cdcStreamBatched'].map((k) => [`pg_${k}`, { target: `≥ ${TARGETS.pgRowsPerSecond.toLocaleString('en')} rows/s`, median: summary[`pg_${k}`].medianRowsPerSecond, met: summary[`pg_${k}`].medianRowsPerSecond >= TARGETS.pgRowsPerSecond }]))
      : {}),
  };
  const result = {
    benchmark: 'incremental',
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      availableParallelism: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGB: Math.round(totalmem() / 2 ** 30),
      platform: `${platform()} ${release()} ${arch()}`,
      node: process.version,
      duckdb: await engineVersion(),
      ...(postgres?.server ? { postgres: postgres.server } : {}),
      loadAverage: { start: loadStart, end: loads(), note: '1, 5 and 15 minute load averages; other processes may be running' },
    },
    params: { rows, orders: Math.floor(rows / 2), changes: scenario.changes, repeats, threads, seed, pgRows: args['no-pg'] ? 0 : pgRows },
    setup: { generateMs, day1Ms, bytes: scenario.bytes },
    targets,
    summary,
    runs,
    ...(postgres ? { postgres } : {}),
  };
  printSummary(result);
  const resultsDir = join(here, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = result.date.replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
  const json = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(join(resultsDir, `incremental-${stamp}.json`), json);
  writeFileSync(join(resultsDir, 'incremental-latest.json'), json);
  log(`\nWrote bench/results/incremental-${stamp}.json and bench/results/incremental-latest.json`);
} finally {
  if (!args.keep) rmSync(work, { recursive: true, force: true });
  else log(`Kept ${work}`);
}

/** The customers template with the given landing files and an explicit thread count. */
function newProject(name, customers, orders) {
  const dir = join(work, name);
  scaffoldProject(dir, 'customers', { force: true });
  const configPath = join(dir, 'refinery.config.ts');
  const config = readFileSync(configPath, 'utf8');
  const withThreads = config.replace(/name: 'customers',\n/, `name: 'customers',\n  warehouse: { threads: ${threads} },\n`);
  if (withThreads === config) throw new Error('could not set warehouse.threads in the scaffolded refinery.config.ts');
  writeFileSync(configPath, withThreads);
  for (const zone of ['customers', 'orders']) {
    rmSync(join(dir, 'landing', zone), { recursive: true, force: true });
    mkdirSync(join(dir, 'landing', zone), { recursive: true });
  }
  for (const file of customers) copyFileSync(file, join(dir, 'landing', 'customers', basename(file)));
  for (const file of orders) copyFileSync(file, join(dir, 'landing', 'orders', basename(file)));
  return dir;
}

/** open → run (timed, as compare-loads times it: the run, not the open) → close. */
async function runOnce(dir, what, options = {}) {
  const project = await openProject(dir);
  const profile = options.profile ? newProfile(project.warehouse) : undefined;
  let report;
  let ms;
  let cpu;
  try {
    const timed = await cpuTimed(() => runPipeline(project.plan, project.warehouse, { ...(options.listener === false ? { listener: false } : {}), ...(profile ? { progress: profile.onProgress } : {}) }));
    ({ value: report, ms } = timed);
    cpu = { cpuMs: timed.cpuMs, othersShare: timed.othersShare };
  } finally {
    await project.close();
  }
  if (report.status !== 'success') throw new Error(`${what}: the run ${report.status}: ${report.steps.find((s) => s.status === 'failed')?.message ?? ''}`);
  return {
    ms,
    ...cpu,
    runId: report.runId,
    steps: report.steps.map((s) => ({ step: s.step, status: s.status, ms: s.durationMs, rowsIn: s.rowsIn, rowsWritten: s.rowsWritten, ...(s.message ? { message: s.message } : {}) })),
    ...(profile ? { profile: profile.statements } : {}),
  };
}

async function fullReload(r) {
  const dir = newProject(`full-${r}`, [scenario().day2Full.customers], [scenario().day2Full.orders]);
  settleDisk();
  return { dir, db: join(dir, '.refinery', 'warehouse.duckdb'), ...(await runOnce(dir, 'full reload')) };
}

/** A copy of the day-1 project (cp -a keeps the files' exact mtimes, so bronze sees them as already ingested). */
async function incremental(r, withoutLineage) {
  const dir = join(work, `${withoutLineage ? 'incremental-nolineage' : 'incremental'}-${r}`);
  execFileSync('cp', ['-a', join(work, 'base'), dir]);
  copyFileSync(scenario().day2Changes, join(dir, CHANGES_REL));
  settleDisk();
  const out = await runOnce(dir, 'incremental', { ...(withoutLineage ? { listener: false } : {}), profile: args.profile && !withoutLineage });
  return { dir, db: join(dir, '.refinery', 'warehouse.duckdb'), ...out };
}

async function floor(r) {
  const dir = join(work, `floor-${r}`);
  mkdirSync(dir, { recursive: true });
  const db = join(dir, 'floor.duckdb');
  execFileSync('cp', ['-a', join(work, 'base', '.refinery', 'warehouse.duckdb'), db]);
  settleDisk();
  const ingestedAt = new Date().toISOString().replace('T', ' ').replace('Z', '');
  const busy0 = systemBusyMs();
  const out = await runIncrementalFloor({ dbPath: db, threads, changesFile: scenario().day2Changes, changesRelPath: CHANGES_REL, ingestedAt, runId: 2 });
  const busy1 = systemBusyMs();
  // The floor's own span is BEGIN to COMMIT; others' share is estimated over the whole call (open and close included).
  const othersShare = busy0 === undefined || busy1 === undefined ? null : Number(Math.max(0, (busy1 - busy0 - out.cpuMs) / (out.callMs * availableParallelism())).toFixed(2));
  return { dir, db, ms: out.totalMs, cpuMs: out.cpuMs, othersShare, steps: out.steps, ...(args.profile ? { profile: out.statements } : {}) };
}

/**
 * Writes the bench's own copies (hundreds of MB of warehouse and landing files) to disk before a measurement
 * starts: otherwise their writeback lands in whichever commit fsyncs next, and the side with more commits pays for
 * the bench's housekeeping. Applied the same way before every side.
 */
function settleDisk() {
  execFileSync('sync');
}

function scenario() {
  return {
    day2Full: { customers: join(work, 'data', 'day2-full', 'customers.csv'), orders: join(work, 'data', 'day2-full', 'orders.csv') },
    day2Changes: join(work, 'data', 'day2-changes', 'customers_changes.csv'),
  };
}

/**
 * Identical results: the full reload and the incremental load have the same silver, quarantine and gold (lineage
 * aside: which batch and row a value came from differs by design); the floor has exactly Refinery's tables,
 * lineage included (all but the ingest time and the run id).
 */
async function verify(run) {
  const LINEAGE = ['_batch_id', '_source_file', '_source_row', '_ingested_at', '_row_hash', '_load_error', '_raw_line', '_run_id'];
  const compared = ['silver.customers', 'silver.orders', 'quarantine.customers', 'quarantine.orders', 'gold.customer_360'];
  const problems = [];
  const [inc, full] = [await tableFacts(run.incremental.db, compared, LINEAGE), await tableFacts(run.full.db, compared, LINEAGE)];
  const withFloor = ['bronze.customers', ...compared];
  const [incAll, floorAll] = [await tableFacts(run.incremental.db, withFloor, ['_ingested_at', '_run_id']), await tableFacts(run.floor.db, withFloor, ['_ingested_at', '_run_id'])];
  const noLineage = await tableFacts(run['incremental (no OpenLineage)'].db, withFloor, ['_ingested_at', '_run_id']);
  const diff = (label, a, b, tables) => {
    for (const t of tables) {
      if (a[t].rows !== b[t].rows) problems.push(`${t}: ${label[0]} has ${a[t].rows} rows, ${label[1]} ${b[t].rows}`);
      else if (a[t].columns !== b[t].columns) problems.push(`${t}: columns differ\n      ${label[0]}: ${a[t].columns}\n      ${label[1]}: ${b[t].columns}`);
      else if (a[t].checksum !== b[t].checksum) problems.push(`${t}: same row count (${a[t].rows}) but different content (${label[0]} vs ${label[1]})`);
    }
  };
  diff(['the full reload', 'the incremental load'], full, inc, compared);
  diff(['Refinery incremental', 'the floor'], incAll, floorAll, withFloor);
  diff(['Refinery incremental', 'Refinery incremental without OpenLineage'], incAll, noLineage, withFloor);
  if (problems.length > 0) {
    console.error('\n' + '!'.repeat(78));
    console.error('!!! MISMATCH: the loads did not produce the same tables — the timings are not comparable.');
    for (const p of problems) console.error(`!!!   ${p}`);
    console.error('!'.repeat(78));
    process.exit(1);
  }
  return { identical: true, rows: Object.fromEntries(withFloor.map((t) => [t, incAll[t].rows])) };
}

/** Per table: row count, columns, and an order-independent checksum (sum of row hashes) over all but `ignore`. */
async function tableFacts(dbPath, tables, ignore) {
  const instance = await DuckDBInstance.create(dbPath, { access_mode: 'READ_ONLY', threads: String(threads) });
  const connection = await instance.connect();
  const q = async (sql) => (await connection.runAndReadAll(sql)).getRowObjectsJson();
  const facts = {};
  try {
    for (const t of tables) {
      const [schema, name] = t.split('.');
      const cols = (await q(`SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_schema = '${schema}' AND table_name = '${name}' ORDER BY column_name`)).filter((c) => !ignore.includes(c.c));
      const struct = `{${cols.map((c) => `'${c.c}': "${c.c}"`).join(', ')}}`;
      const [r] = await q(`SELECT count(*) AS n, coalesce(sum(hash(${struct})::HUGEINT), 0)::VARCHAR AS h FROM ${schema}.${name}`);
      facts[t] = { rows: Number(r.n), checksum: r.h, columns: cols.map((c) => `${c.c} ${c.t}`).join(', ') };
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  return facts;
}

async function engineVersion() {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const [r] = (await connection.runAndReadAll('SELECT version() AS v')).getRowObjectsJson();
  connection.closeSync();
  instance.closeSync();
  return String(r.v);
}

/** --profile: every statement the warehouse runs, timed and attributed to the step that was running. */
function newProfile(warehouse) {
  const statements = [];
  const origin = performance.now();
  let step = '(outside steps)';
  // `at`: when the statement started, in ms since the profile began: with overlapping steps it shows the critical path.
  const record = (sql, ms, t0) =>
    statements.push({ step, at: Math.round((t0 - origin) * 10) / 10, ms: Math.round(ms * 10) / 10, sql: sql.replace(/\s+/g, ' ').trim().slice(0, 200) });
  const timed = (target, name) => {
    const original = target[name].bind(target);
    return async (sql, params) => {
      const t0 = performance.now();
      try {
        return await original(sql, params);
      } finally {
        record(sql, performance.now() - t0, t0);
      }
    };
  };
  // The wrapper keeps the session as its prototype, so the warehouse still recognises its own session (the schema
  // cache only serves DuckDB sessions): a profiled run sends the statements an unprofiled one does.
  const wrap = (session) => Object.assign(Object.create(session), { query: timed(session, 'query'), execute: timed(session, 'execute') });
  const transaction = warehouse.transaction.bind(warehouse);
  // The commit is timed as the span between the work's end and the transaction's.
  warehouse.transaction = async (work, options) => {
    let done;
    const result = await transaction(async (tx) => {
      const value = await work(wrap(tx));
      done = performance.now();
      return value;
    }, options);
    if (done !== undefined) record('COMMIT', performance.now() - done, done);
    return result;
  };
  // The warehouse's own connection, below its query(): the catalog reads and SQL parsing (OpenLineage's column
  // lineage) go straight to it.
  const own = warehouse.driver ?? warehouse;
  own.query = timed(own, 'query');
  own.execute = timed(own, 'execute');
  return {
    statements,
    onProgress(e) {
      if (e.type === 'step-start') step = e.step;
      else if (e.type === 'step-end') step = '(after steps: run records, OpenLineage facets)';
    },
  };
}

function printSummary(result) {
  const { summary: s, params: p, targets: t, machine: m } = result;
  const line = (cells, widths) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  const w = [34, 11, 11, 12];
  log(`\nIncremental vs full load · ${p.rows.toLocaleString('en')} customers + ${p.orders.toLocaleString('en')} orders, ${p.changes.toLocaleString('en')} changes · ${p.threads} DuckDB thread(s) · ${p.repeats} repeat(s)`);
  log(`${m.cpus} CPU(s) ${m.cpuModel} · Node ${m.node} · DuckDB ${m.duckdb} · load average ${m.loadAverage.start.join(' / ')} at start, ${m.loadAverage.end.join(' / ')} at end\n`);
  const cw = [...w, 11, 8];
  log(line(['', 'median (s)', 'best (s)', 'vs floor', 'CPU s (med)', 'others'], cw));
  log(line(['─'.repeat(34), '─'.repeat(11), '─'.repeat(11), '─'.repeat(12), '─'.repeat(11), '─'.repeat(8)], cw));
  const row = (label, x) =>
    log(line([label, fmt(x.medianMs), fmt(x.bestMs), `${(x.medianMs / s.floor.medianMs).toFixed(2)}×`, fmt(x.cpuMedianMs), `${Math.round(x.othersShareMedian * 100)}%`], cw));
  row('Refinery full reload', s.full);
  row('Refinery incremental', s.incremental);
  row('  same, OpenLineage facets off', s.incrementalNoOpenLineage);
  row('floor: hand-written DuckDB SQL', s.floor);
  log('');
  const mark = (ok) => (ok ? 'MET' : 'NOT MET');
  log(`Incremental is ${s.speedup.median.toFixed(1)}× faster than the full reload (median; best ${s.speedup.best.toFixed(1)}×) — target ≥ ${TARGETS.speedup}×: ${mark(t.speedup.met)}`);
  log(`  (the floor itself is ${s.floorSpeedup.median.toFixed(1)}× faster than the full reload: the most an incremental load as fast as the floor would show here)`);
  log(`Incremental is ${s.vsFloor.median.toFixed(2)}× the floor (median; best ${s.vsFloor.best.toFixed(2)}×) — target ≤ ${TARGETS.maxFloorRatio}×: ${mark(t.vsFloor.met)}`);
  log(`Identical silver, quarantine and gold in every repeat (full reload = incremental = floor): ${mark(t.identical.met)}`);
  log(`In CPU time of this process (less sensitive to other load): ${s.cpu.speedup.toFixed(1)}× faster than the full reload, ${s.cpu.vsFloor.toFixed(2)}× the floor.`);
  log(`"others" = share of the machine's CPUs used by other processes during the measurement (median).`);

  log('\nPer step, median (s):');
  const steps = result.runs[0].incremental.steps.map((x) => x.step);
  const per = (kind, name) => median(result.runs.map((r) => r[kind].steps.find((x) => x.step === name)?.ms ?? 0));
  log(line(['step', 'full', 'increm.', 'floor'], w));
  for (const name of steps) log(line([name, fmt(per('full', name)), fmt(per('incremental', name)), fmt(per('floor', name))], w));
  log(line(['floor: commit', '', '', fmt(per('floor', 'commit'))], w));
  log(line(['whole run (wall; steps may overlap)', fmt(s.full.medianMs), fmt(s.incremental.medianMs), fmt(s.floor.medianMs)], w));

  if (result.postgres && !result.postgres.skipped) {
    log(`\nPostgreSQL → bronze, ${result.postgres.rows.toLocaleString('en')} rows (${result.postgres.server}); rows/s = rows / bronze step time`);
    const pw = [34, 11, 14, 14];
    log(line(['', 'median (s)', 'median rows/s', 'best rows/s'], pw));
    log(line(['─'.repeat(34), '─'.repeat(11), '─'.repeat(14), '─'.repeat(14)], pw));
    for (const [key, label] of [['cursor', 'cursor (first read)'], ['cdcSnapshot', 'cdc initial snapshot'], ['cdcStream', 'cdc streaming, 1 transaction'], ['cdcServerDecode', '  of which server decode alone'], ['cdcStreamBatched', 'cdc streaming, 100 transactions'], ['cdcServerDecodeBatched', '  of which server decode alone'], ['floor', 'floor: COPY + one DuckDB statement']]) {
      const x = s[`pg_${key}`];
      log(line([label, fmt(x.medianMs), x.medianRowsPerSecond.toLocaleString('en'), x.bestRowsPerSecond.toLocaleString('en')], pw));
    }
    for (const key of ['cursor', 'cdcSnapshot', 'cdcStream', 'cdcStreamBatched']) log(`  ${key}: target ≥ ${TARGETS.pgRowsPerSecond.toLocaleString('en')} rows/s: ${mark(t[`pg_${key}`].met)}`);
  }
  if (args.profile) {
    const last = result.runs[result.runs.length - 1].incremental.profile ?? [];
    log(`\nProfile of the incremental run (repeat ${result.runs.length}), statements ≥ 10 ms:`);
    for (const x of last.filter((x) => x.ms >= 10)) log(`  ${fmt(x.ms).padStart(6)} s  ${x.step.padEnd(20)} ${x.sql.slice(0, 130)}`);
    const byStep = {};
    for (const x of last) byStep[x.step] = (byStep[x.step] ?? 0) + x.ms;
    log(`  SQL time per step: ${Object.entries(byStep).map(([k, v]) => `${k} ${fmt(v)} s`).join(', ')}`);
  }
}
