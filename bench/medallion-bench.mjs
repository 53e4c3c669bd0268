#!/usr/bin/env node
// Medallion benchmark: the customers template's full load (bronze → silver → gold) by Refinery, against the same
// work written by hand in DuckDB SQL (the floor), in the same process, on the same generated files.
//
//   npm run bench                                  # builds, then 1,000,000 customers + 500,000 orders, 3 repeats
//   npm run bench -- --rows 100000 --repeat 5      # smaller / more repeats
//   npm run bench -- --profile                     # also time every SQL statement Refinery sends
//
// See bench/README.md for what is measured and how to read the ratio.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, platform, arch, release, totalmem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { systemBusyMs } from './machine.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');
if (!existsSync(join(dist, 'index.js')) || !existsSync(join(dist, 'generate', 'messy-customers.js'))) {
  console.error('dist/ is missing or stale: run `npm run build` first (`npm run bench` does it for you).');
  process.exit(2);
}
const { scaffoldProject, openProject, runPipeline } = await import('../dist/index.js');
const { generateMessyCustomers } = await import('../dist/generate/messy-customers.js');
const { scanCsv } = await import('../dist/sources/csv-record-scanner.js');
const { runFloor } = await import('./medallion-floor.mjs');

const TARGET_RATIO = 1.3;

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    orders: { type: 'string' },
    repeat: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
    seed: { type: 'string', default: '42' },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'no-wait': { type: 'boolean', default: false },
    'noisy-share': { type: 'string', default: '0.1' },
    retries: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`usage: node bench/medallion-bench.mjs [--rows N] [--orders M] [--repeat K] [--threads T] [--seed S] [--profile] [--keep]
  --rows N      customer rows to generate (default 1000000)
  --orders M    order rows (default N/2)
  --repeat K    repetitions; best and median are reported (default 3)
  --threads T   DuckDB threads for both Refinery and the floor (default: all cores, ${availableParallelism()} here)
  --seed S      generator seed (default 42)
  --profile     time every SQL statement Refinery runs and the CSV scan, and print where the time goes
  --keep        keep the temporary projects and databases
  --no-wait     do not wait for the machine to be quiet before each timing (Linux: read from /proc/stat)
  --noisy-share F   a repetition during which other processes used more than this share of the CPUs is
                    discarded and repeated (default 0.1)
  --retries R   extra attempts allowed for discarded repetitions (default 2 × repeats)`);
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
args.orders ??= String(Math.floor(rows / 2));
const orderRows = int('orders', 0);
const repeats = int('repeat', 1);
const threads = int('threads', 1);
const seed = int('seed', 0);
args.retries ??= String(2 * repeats);
const retries = int('retries', 0);
const noisyShare = Number(args['noisy-share']);
const waitQuiet = !args['no-wait'];

/**
 * CPU seconds used by this process, and by everything else on the machine, while `fn` runs. Wall-clock times on
 * a shared machine are only as good as its quiet: the foreign share says how much other load a timing suffered.
 */
async function measured(fn) {
  const stat0 = systemBusyMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const ownCpuMs = (cpu.user + cpu.system) / 1000;
  const stat1 = systemBusyMs();
  const foreignCpuMs = stat0 === undefined || stat1 === undefined ? undefined : Math.max(0, stat1 - stat0 - ownCpuMs);
  return { value, wallMs, cpuMs: ownCpuMs, foreignCpuMs };
}

/**
 * Waits (up to two minutes) until the machine has been nearly idle for three seconds in a row, so a timing does
 * not start in the middle of someone else's build. Does nothing where /proc/stat is not available.
 */
async function waitForQuiet(maxMs = 120_000) {
  if (systemBusyMs() === undefined) return;
  const cores = availableParallelism();
  const started = performance.now();
  let quietSeconds = 0;
  let told = false;
  while (quietSeconds < 3 && performance.now() - started < maxMs) {
    const before = systemBusyMs();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const share = (systemBusyMs() - before) / (1000 * cores);
    if (share < noisyShare / 2) quietSeconds++;
    else {
      quietSeconds = 0;
      if (!told) {
        console.log(`  (waiting for other processes to settle: they use ${Math.round(share * 100)}% of the CPUs)`);
        told = true;
      }
    }
  }
}

const work = mkdtempSync(join(tmpdir(), 'refinery-bench-'));
const LANDING = { customers: 'landing/customers/customers.csv', orders: 'landing/orders/orders.csv' };
const fmt = (ms) => (ms / 1000).toFixed(2);
const rate = (n, ms) => Math.round(n / (ms / 1000));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  console.log(`Generating ${rows.toLocaleString('en')} customers and ${orderRows.toLocaleString('en')} orders (seed ${seed}) ...`);
  const generated = await generateMessyCustomers({
    rows,
    seed,
    out: join(work, 'input', 'customers.csv'),
    orders: { rows: orderRows, out: join(work, 'input', 'orders.csv') },
    threads,
  });
  console.log(`  ${(generated.customers.bytes / 1e6).toFixed(1)} MB + ${((generated.orders?.bytes ?? 0) / 1e6).toFixed(1)} MB in ${fmt(generated.durationMs)} s\n`);
  const files = { customers: generated.customers.path, orders: generated.orders.path };

  const runs = [];
  let verified;
  const discarded = [];
  const maxAttempts = repeats + retries;
  for (let attempt = 1; runs.length < repeats && attempt <= maxAttempts; attempt++) {
    const r = runs.length + 1;
    // Alternate who goes first, so neither side always gets the warmer cache.
    const order = attempt % 2 === 1 ? ['refinery', 'floor'] : ['floor', 'refinery'];
    const run = { repeat: r, attempt };
    for (const who of order) {
      if (waitQuiet) await waitForQuiet();
      run[who] = who === 'refinery' ? await runRefinery(attempt, files) : await runFloorOnce(attempt, files);
      const x = run[who];
      x.otherLoadShare = x.foreignCpuMs === undefined ? undefined : x.foreignCpuMs / (x.totalMs * availableParallelism());
      const load = x.otherLoadShare === undefined ? '' : `, other processes used ${Math.round(x.otherLoadShare * 100)}% of the CPUs`;
      console.log(`  repeat ${r}/${repeats}  ${who.padEnd(8)} ${fmt(x.totalMs)} s  (CPU ${fmt(x.cpuMs)} s${load})`);
    }
    verified = await verify(run.refinery, run.floor);
    if (!args.keep) {
      rmSync(run.refinery.dir, { recursive: true, force: true });
      rmSync(run.floor.dir, { recursive: true, force: true });
    }
    for (const side of [run.refinery, run.floor]) {
      delete side.dir;
      delete side.db;
    }
    const noisy = [run.refinery, run.floor].some((x) => (x.otherLoadShare ?? 0) > noisyShare);
    if (noisy && attempt < maxAttempts) {
      console.log(`  repeat ${r}: other processes loaded the machine during the timing; discarded and repeated (${maxAttempts - attempt} attempt(s) left)`);
      discarded.push(run);
      continue;
    }
    run.noisy = noisy;
    runs.push(run);
  }
  if (runs.length < repeats) console.log(`  only ${runs.length} of ${repeats} repeats completed within ${maxAttempts} attempts`);

  const refineryMs = runs.map((r) => r.refinery.totalMs);
  const floorMs = runs.map((r) => r.floor.totalMs);
  const inputRows = rows + orderRows;
  const summary = {
    refinery: { bestMs: Math.min(...refineryMs), medianMs: median(refineryMs) },
    floor: { bestMs: Math.min(...floorMs), medianMs: median(floorMs) },
  };
  summary.ratio = { best: summary.refinery.bestMs / summary.floor.bestMs, median: summary.refinery.medianMs / summary.floor.medianMs };
  const refineryCpu = runs.map((r) => r.refinery.cpuMs);
  const floorCpu = runs.map((r) => r.floor.cpuMs);
  summary.cpu = {
    refinery: { bestMs: Math.min(...refineryCpu), medianMs: median(refineryCpu) },
    floor: { bestMs: Math.min(...floorCpu), medianMs: median(floorCpu) },
  };
  summary.cpu.ratio = { best: summary.cpu.refinery.bestMs / summary.cpu.floor.bestMs, median: summary.cpu.refinery.medianMs / summary.cpu.floor.medianMs };
  const foreign = runs.flatMap((r) => [r.refinery.foreignCpuMs, r.floor.foreignCpuMs]).filter((x) => x !== undefined);
  summary.otherLoad = foreign.length === 0 ? undefined : { maxShare: Math.max(...runs.flatMap((r) => [r.refinery.otherLoadShare ?? 0, r.floor.otherLoadShare ?? 0])), discardedRepeats: discarded.length };
  summary.rowsPerSecond = {
    refinery: { best: rate(inputRows, summary.refinery.bestMs), median: rate(inputRows, summary.refinery.medianMs) },
    floor: { best: rate(inputRows, summary.floor.bestMs), median: rate(inputRows, summary.floor.medianMs) },
  };

  const duckdbVersion = await engineVersion();
  const result = {
    benchmark: 'medallion',
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      availableParallelism: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGB: Math.round(totalmem() / 2 ** 30),
      platform: `${platform()} ${release()} ${arch()}`,
      node: process.version,
      duckdb: duckdbVersion,
    },
    params: { rows, orderRows, inputRows, repeats, threads, seed, noisyShare, waitQuiet },
    input: { customersBytes: generated.customers.bytes, ordersBytes: generated.orders.bytes, generateMs: generated.durationMs },
    target: { maxRatio: TARGET_RATIO, met: summary.ratio.median <= TARGET_RATIO },
    summary,
    verified,
    runs,
    discarded,
  };

  console.log();
  printSummary(result);
  if (args.profile) printProfile(runs);
  const resultsDir = join(here, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = result.date.replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
  const json = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(join(resultsDir, `medallion-${stamp}.json`), json);
  writeFileSync(join(resultsDir, 'medallion-latest.json'), json);
  console.log(`\nWrote bench/results/medallion-${stamp}.json and bench/results/medallion-latest.json`);
} finally {
  if (!args.keep) rmSync(work, { recursive: true, force: true });
  else console.log(`Kept ${work}`);
}

/** Refinery: scaffold the customers template, swap in the generated files, open → run → close (all timed). */
async function runRefinery(repeat, input) {
  const dir = join(work, `refinery-${repeat}`);
  scaffoldProject(dir, 'customers');
  const configPath = join(dir, 'refinery.config.ts');
  const config = readFileSync(configPath, 'utf8');
  const withThreads = config.replace(/name: 'customers',\n/, `name: 'customers',\n  warehouse: { threads: ${threads} },\n`);
  if (withThreads === config) throw new Error('could not set warehouse.threads in the scaffolded refinery.config.ts');
  writeFileSync(configPath, withThreads);
  rmSync(join(dir, 'landing'), { recursive: true });
  for (const [source, rel] of Object.entries(LANDING)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    copyFileSync(input[source], join(dir, rel));
  }

  const profile = args.profile ? newProfile() : undefined;
  const timed = await measured(async () => {
    const t0 = performance.now();
    const project = await openProject(dir);
    const t1 = performance.now();
    if (profile) instrument(project.warehouse, profile);
    let report;
    let t2;
    try {
      report = await runPipeline(project.plan, project.warehouse, profile ? { progress: (e) => profile.onProgress(e) } : {});
    } finally {
      t2 = performance.now();
      await project.close();
    }
    return { report, openMs: t1 - t0, runMs: t2 - t1, closeMs: performance.now() - t2 };
  });
  const { report, openMs, runMs, closeMs } = timed.value;
  if (report.status !== 'success') {
    const failed = report.steps.find((s) => s.status === 'failed');
    throw new Error(`Refinery run failed: ${failed?.message ?? report.status}`);
  }
  const result = {
    dir,
    db: join(dir, '.refinery', 'warehouse.duckdb'),
    totalMs: timed.wallMs,
    cpuMs: timed.cpuMs,
    foreignCpuMs: timed.foreignCpuMs,
    openMs,
    runMs,
    closeMs,
    steps: report.steps.map((s) => ({ step: s.step, ms: s.durationMs, rowsIn: s.rowsIn, written: s.rowsWritten, quarantined: s.rowsQuarantined, superseded: s.rowsSuperseded, warned: s.rowsWarned })),
  };
  if (profile) result.profile = await profile.finish(input);
  return result;
}

async function runFloorOnce(repeat, input) {
  const dir = join(work, `floor-${repeat}`);
  mkdirSync(dir, { recursive: true });
  const db = join(dir, 'floor.duckdb');
  const ingestedAt = new Date().toISOString().replace('T', ' ').replace('Z', '');
  const timed = await measured(() => runFloor({ dbPath: db, threads, files: input, relPaths: LANDING, ingestedAt }));
  const { steps, stats } = timed.value;
  return { dir, db, totalMs: timed.wallMs, cpuMs: timed.cpuMs, foreignCpuMs: timed.foreignCpuMs, steps, stats };
}

/**
 * The floor must have done exactly Refinery's work: every table has the same row count and the same content
 * (an order-independent checksum over all columns but the ingest time and run id, which differ by nature).
 */
async function verify(refinery, floor) {
  const tables = ['bronze.customers', 'bronze.orders', 'silver.customers', 'silver.orders', 'quarantine.customers', 'quarantine.orders', 'gold.customer_360'];
  const [a, b] = [await tableFacts(refinery.db, tables), await tableFacts(floor.db, tables)];
  const problems = [];
  for (const t of tables) {
    if (a[t].rows !== b[t].rows) problems.push(`${t}: Refinery has ${a[t].rows} rows, the floor ${b[t].rows}`);
    else if (a[t].columns !== b[t].columns) problems.push(`${t}: columns differ\n      Refinery: ${a[t].columns}\n      floor:    ${b[t].columns}`);
    else if (a[t].checksum !== b[t].checksum) problems.push(`${t}: same row count (${a[t].rows}) but different content`);
  }
  // The counts each side reports for its checks must agree too.
  for (const table of ['customers', 'orders']) {
    const step = refinery.steps.find((s) => s.step === `silver.${table}`);
    const stats = floor.stats[table];
    for (const [k, fk] of [['rowsIn', 'rows_in'], ['quarantined', 'quarantined'], ['warned', 'warned'], ['written', 'written']]) {
      if (Number(step[k]) !== Number(stats[fk])) problems.push(`silver.${table} ${k}: Refinery reports ${step[k]}, the floor ${stats[fk]}`);
    }
  }
  if (problems.length > 0) {
    console.error('\n' + '!'.repeat(78));
    console.error('!!! MISMATCH: the floor and Refinery did not produce the same tables — the timings are not comparable.');
    for (const p of problems) console.error(`!!!   ${p}`);
    console.error('!'.repeat(78));
    console.error(`Both databases are kept for inspection: ${refinery.db} and ${floor.db}`);
    process.exit(1);
  }
  return Object.fromEntries(tables.map((t) => [t, a[t].rows]));
}

async function tableFacts(dbPath, tables) {
  const instance = await DuckDBInstance.create(dbPath, { access_mode: 'READ_ONLY', threads: String(threads) });
  const connection = await instance.connect();
  const q = async (sql) => (await connection.runAndReadAll(sql)).getRowObjectsJson();
  const facts = {};
  try {
    for (const t of tables) {
      const [schema, name] = t.split('.');
      const cols = (await q(`SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_schema = '${schema}' AND table_name = '${name}' ORDER BY column_name`)).filter(
        (c) => c.c !== '_ingested_at' && c.c !== '_run_id',
      );
      const struct = `{${cols.map((c) => `'${c.c}': "${c.c}"`).join(', ')}}`;
      const [r] = await q(`SELECT count(*) AS n, coalesce(bit_xor(hash(${struct})), 0)::VARCHAR AS h FROM ${schema}.${name}`);
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

function printSummary(result) {
  const { summary: s, params: p } = result;
  const line = (cells, widths) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  const w = [22, 14, 14, 10];
  console.log(`Medallion full load · ${p.rows.toLocaleString('en')} customers + ${p.orderRows.toLocaleString('en')} orders · ${p.threads} DuckDB thread(s) · ${p.repeats} repeat(s)`);
  console.log(`${result.machine.cpus} CPU(s) ${result.machine.cpuModel} · Node ${result.machine.node} · DuckDB ${result.machine.duckdb}\n`);
  console.log(line(['', 'Refinery', 'floor (SQL)', 'ratio'], w));
  console.log(line(['─'.repeat(22), '─'.repeat(14), '─'.repeat(14), '─'.repeat(10)], w));
  console.log(line(['best (s)', fmt(s.refinery.bestMs), fmt(s.floor.bestMs), `${s.ratio.best.toFixed(2)}×`], w));
  console.log(line(['median (s)', fmt(s.refinery.medianMs), fmt(s.floor.medianMs), `${s.ratio.median.toFixed(2)}×`], w));
  console.log(line(['rows/s (median)', s.rowsPerSecond.refinery.median.toLocaleString('en'), s.rowsPerSecond.floor.median.toLocaleString('en'), ''], w));
  console.log(line(['rows/s (best)', s.rowsPerSecond.refinery.best.toLocaleString('en'), s.rowsPerSecond.floor.best.toLocaleString('en'), ''], w));
  console.log(line(['CPU s (median)', fmt(s.cpu.refinery.medianMs), fmt(s.cpu.floor.medianMs), `${s.cpu.ratio.median.toFixed(2)}×`], w));
  console.log(`\nrows/s counts input rows (customers + orders = ${p.inputRows.toLocaleString('en')}). CPU s: this process, all threads.`);
  if (s.otherLoad?.discardedRepeats) console.log(`${s.otherLoad.discardedRepeats} repetition(s) disturbed by other processes were discarded and repeated (kept in the JSON under "discarded").`);
  if (s.otherLoad && s.otherLoad.maxShare > noisyShare) {
    console.log(`Warning: other processes used up to ${Math.round(s.otherLoad.maxShare * 100)}% of the machine's CPU during a timed run; wall times are noisy — prefer the best, or re-run on a quiet machine.`);
  }
  console.log(`Target: Refinery ≤ ${TARGET_RATIO}× the floor (median) — ${result.target.met ? 'MET' : 'NOT MET'} (${s.ratio.median.toFixed(2)}×).`);
  console.log(`Verified identical output: ${Object.entries(result.verified).map(([t, n]) => `${t} ${n.toLocaleString('en')}`).join(', ')}.`);

  console.log('\nPer step, median (s):');
  const steps = result.runs[0].refinery.steps.map((s) => s.step);
  const floorStep = (run, name) => run.floor.steps.filter((s) => s.step === name || s.step.startsWith(`${name} `)).reduce((a, b) => a + b.ms, 0);
  console.log(line(['step', 'Refinery', 'floor (SQL)', 'ratio'], w));
  for (const name of [...steps, 'open + close']) {
    const r = median(result.runs.map((run) => (name === 'open + close' ? run.refinery.openMs + run.refinery.closeMs : run.refinery.steps.find((s) => s.step === name).ms)));
    const f = median(result.runs.map((run) => (name === 'open + close' ? floorStep(run, 'setup') + floorStep(run, 'checkpoint + close') : floorStep(run, name))));
    console.log(line([name, fmt(r), fmt(f), f > 0 ? `${(r / f).toFixed(2)}×` : ''], w));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// --profile: where Refinery's time goes. Every statement sent through the warehouse is timed and attributed to
// the running step; what a step spends outside SQL is JavaScript (for bronze: mostly the CSV record scan).

function newProfile() {
  const statements = [];
  // Independent steps may run at the same time: a statement is attributed to every step running when it ran.
  const running = new Map();
  const stepWall = new Map();
  return {
    statements,
    onProgress(e) {
      if (e.type === 'step-start') running.set(e.step, performance.now());
      else if (e.type === 'step-end') {
        stepWall.set(e.step, performance.now() - (running.get(e.step) ?? performance.now()));
        running.delete(e.step);
      }
    },
    record(sql, ms) {
      statements.push({ step: running.size === 0 ? '(outside steps)' : [...running.keys()].join(' + '), sql: sql.replace(/\s+/g, ' ').trim(), ms });
    },
    async finish(input) {
      const byStep = {};
      for (const [name, wall] of stepWall) {
        const sqlMs = statements.filter((s) => s.step === name).reduce((a, b) => a + b.ms, 0);
        byStep[name] = { wallMs: wall, sqlMs, outsideSqlMs: wall - sqlMs };
      }
      for (const s of statements) if (!byStep[s.step]) byStep[s.step] = { wallMs: undefined, sqlMs: statements.filter((x) => x.step === s.step).reduce((a, b) => a + b.ms, 0) };
      // The bronze step's JavaScript part is dominated by the record scan + SHA-256; time it alone.
      const scanMs = {};
      for (const [source, path] of Object.entries(input)) {
        const t0 = performance.now();
        await scanCsv(path, { quote: '"', escape: '"', delimiter: ',', encoding: 'utf-8' });
        scanMs[source] = performance.now() - t0;
      }
      return { byStep, scanMs, statements: statements.filter((s) => s.ms >= 20).map((s) => ({ ...s, sql: s.sql.slice(0, 160) })) };
    },
  };
}

function instrument(warehouse, profile) {
  // The session stays the wrapper's prototype, so the warehouse still recognises its own session (the schema cache
  // only serves DuckDB sessions): a profiled run sends the statements an unprofiled one does.
  const wrap = (session) => Object.assign(Object.create(session), {
    async query(sql, params) {
      const t0 = performance.now();
      try {
        return await session.query(sql, params);
      } finally {
        profile.record(sql, performance.now() - t0);
      }
    },
    async execute(sql, params) {
      const t0 = performance.now();
      try {
        return await session.execute(sql, params);
      } finally {
        profile.record(sql, performance.now() - t0);
      }
    },
  });
  const transaction = warehouse.transaction.bind(warehouse);
  warehouse.transaction = async (work, options) => {
    let workDone = 0;
    const result = await transaction(async (tx) => {
      const value = await work(wrap(tx));
      workDone = performance.now();
      return value;
    }, options);
    profile.record('COMMIT (incl. any automatic checkpoint)', performance.now() - workDone);
    return result;
  };
  for (const m of ['query', 'execute']) {
    const original = warehouse[m].bind(warehouse);
    warehouse[m] = async (sql, params) => {
      const t0 = performance.now();
      try {
        return await original(sql, params);
      } finally {
        profile.record(sql, performance.now() - t0);
      }
    };
  }
}

function printProfile(runs) {
  const last = runs[runs.length - 1].refinery.profile;
  console.log(`\nProfile of Refinery (repeat ${runs.length}):`);
  console.log(`  CSV record scan + SHA-256 alone: ${Object.entries(last.scanMs).map(([k, v]) => `${k} ${fmt(v)} s`).join(', ')}`);
  for (const [step, p] of Object.entries(last.byStep)) {
    console.log(
      p.wallMs === undefined
        ? `  ${step} (overlapping steps): SQL ${fmt(p.sqlMs)} s`
        : `  ${step.padEnd(20)} wall ${fmt(p.wallMs)} s = SQL ${fmt(p.sqlMs)} s + outside SQL (JavaScript, waiting) ${fmt(p.outsideSqlMs)} s`,
    );
    for (const s of last.statements.filter((x) => x.step === step)) console.log(`      ${fmt(s.ms).padStart(6)} s  ${s.sql}`);
  }
}
