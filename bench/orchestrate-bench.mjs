// Orchestration overhead: Refinery's graph executor (with its run records) against a floor that does the same
// no-op work and writes the same step records the cheapest way by hand (one bulk INSERT), in the same process.
// Usage: npm run bench:orchestrate [-- --steps 1000]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { openProject, runPipeline } from '../dist/index.js';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const STEPS = arg('steps', 1000);
const REPEAT = arg('repeat', 3);

function projectWith(name, body) {
  const dir = mkdtempSync(join(tmpdir(), `refinery-orch-${name}-`));
  writeFileSync(join(dir, 'refinery.config.ts'), `import { defineProject, task } from 'refinery';\n${body}\n`);
  return dir;
}

const scenarios = [
  {
    name: `wide: ${STEPS} independent no-op steps, concurrency 8`,
    steps: STEPS,
    config: `const tasks = {};\nfor (let i = 0; i < ${STEPS}; i++) tasks['t' + i] = task({ run: () => undefined });\nexport default defineProject({ name: 'wide', concurrency: 8, tasks });`,
  },
  {
    name: `deep: a chain of ${STEPS} no-op steps`,
    steps: STEPS,
    config: `const tasks = {};\nfor (let i = 0; i < ${STEPS}; i++) tasks['t' + i] = task({ ...(i > 0 ? { after: ['t' + (i - 1)] } : {}), run: () => undefined });\nexport default defineProject({ name: 'deep', concurrency: 8, tasks });`,
  },
  {
    name: 'chain: 40 no-op steps',
    steps: 40,
    config: `const tasks = {};\nfor (let i = 0; i < 40; i++) tasks['t' + i] = task({ ...(i > 0 ? { after: ['t' + (i - 1)] } : {}), run: () => undefined });\nexport default defineProject({ name: 'chain', concurrency: 8, tasks });`,
  },
];

/** The floor: call each no-op in dependency order and write the same step records in one transaction. */
async function floor(steps) {
  const dir = mkdtempSync(join(tmpdir(), 'refinery-orch-floor-'));
  const db = await DuckDBInstance.create(join(dir, 'floor.duckdb'));
  const c = await db.connect();
  await c.run(`CREATE TABLE steps (run_id BIGINT, step VARCHAR, kind VARCHAR, status VARCHAR, started_at TIMESTAMP, ended_at TIMESTAMP, duration_ms DOUBLE, attempts INTEGER)`);
  const started = performance.now();
  const rows = [];
  for (let i = 0; i < steps; i++) {
    const t0 = new Date();
    (() => undefined)();
    rows.push(`(1, 't${i}', 'task', 'success', '${t0.toISOString().replace('T', ' ').replace('Z', '')}', '${new Date().toISOString().replace('T', ' ').replace('Z', '')}', 0, 1)`);
  }
  await c.run(`BEGIN; INSERT INTO steps VALUES ${rows.join(', ')}; COMMIT;`);
  const ms = performance.now() - started;
  c.closeSync();
  db.closeSync();
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

async function refinery(config) {
  const dir = projectWith('run', config);
  const project = await openProject(dir);
  try {
    const started = performance.now();
    const report = await runPipeline(project.plan, project.warehouse);
    const ms = performance.now() - started;
    if (report.status !== 'success') throw new Error(`run ${report.status}`);
    const { rows } = await project.warehouse.query(`SELECT count(*) AS n FROM refinery.steps WHERE run_id = ${report.runId}`);
    if (Number(rows[0].n) !== report.steps.length) throw new Error(`expected ${report.steps.length} step records, found ${rows[0].n}`);
    return ms;
  } finally {
    await project.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = [];
for (const scenario of scenarios) {
  const ours = [];
  const floors = [];
  for (let r = 0; r < REPEAT; r++) {
    ours.push(await refinery(scenario.config));
    floors.push(await floor(scenario.steps));
  }
  const best = Math.min(...ours);
  const perStep = (median(ours) - median(floors)) / scenario.steps;
  results.push({ scenario: scenario.name, steps: scenario.steps, refineryMs: ours, floorMs: floors, refineryMedianMs: median(ours), floorMedianMs: median(floors), overheadPerStepMs: perStep, ratio: median(ours) / median(floors), bestMs: best });
}

// Parallelism: 8 tasks that each sleep 1 s, concurrency 8 — the wall time should be close to 1 s.
const sleepers = [];
for (let r = 0; r < REPEAT; r++) {
  sleepers.push(
    await refinery(`const tasks = {};\nfor (let i = 0; i < 8; i++) tasks['sleep' + i] = task({ run: () => new Promise((r) => setTimeout(r, 1000)) });\nexport default defineProject({ name: 'sleepers', concurrency: 8, tasks });`),
  );
}

const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version };
console.log(`Orchestration overhead (median of ${REPEAT}; ${machine.cpus} cores, Node ${machine.node})`);
for (const r of results) {
  console.log(`  ${r.scenario.padEnd(48)} refinery ${r.refineryMedianMs.toFixed(0).padStart(6)} ms · floor ${r.floorMedianMs.toFixed(0).padStart(5)} ms · overhead ${r.overheadPerStepMs.toFixed(2)} ms/step (target ≤ 5) · ratio ${r.ratio.toFixed(1)}×`);
}
console.log(`  8 sleeping 1-second tasks, concurrency 8            wall ${median(sleepers).toFixed(0)} ms (target < 1300)`);
const out = { date: new Date().toISOString(), machine, steps: STEPS, repeat: REPEAT, scenarios: results, parallelSleepersMs: sleepers, parallelSleepersMedianMs: median(sleepers) };
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const stamp = new Date().toISOString().slice(0, 10);
writeFileSync(new URL(`./results/orchestrate-${stamp}.json`, import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
writeFileSync(new URL('./results/orchestrate-latest.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
const ok = results.every((r) => r.overheadPerStepMs <= 5) && median(sleepers) < 1300;
console.log(ok ? 'All orchestration targets met.' : 'A target was missed.');
process.exitCode = ok ? 0 : 1;
