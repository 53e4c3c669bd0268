import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, refinery } from './helpers/cli.js';
import { TestProject } from './helpers/temp-project.js';
import { ENGINES } from './helpers/engines.js';

/** `refinery serve` as a real process: the lock, a file drop, and SIGKILL mid-run followed by a restart. */
const engine = ENGINES[0] as (typeof ENGINES)[number];

function startServe(dir: string): ChildProcess {
  return spawn(process.execPath, [BIN, 'serve', '--port', '0'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function apiUrl(dir: string, child: ChildProcess): Promise<string> {
  const lock = join(dir, '.refinery', 'serve.lock');
  for (let i = 0; i < 300; i++) {
    if (existsSync(lock)) {
      const info = JSON.parse(readFileSync(lock, 'utf8')) as { url: string; pid: number };
      if (info.pid === child.pid && !info.url.endsWith(':0')) {
        try {
          if ((await fetch(`${info.url}/api/health`)).ok) return info.url;
        } catch {
          // not listening yet
        }
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('serve did not come up');
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('timed out');
}

interface RunRow {
  runId: number;
  status: string;
  trigger: string;
  resumesRunId: number | null;
}

describe('refinery serve (process)', () => {
  let project: TestProject;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    children.length = 0;
    await project?.dispose();
  });

  function configure(extra: string, tasks = ''): void {
    const config = readFileSync(`${project.dir}/refinery.config.ts`, 'utf8');
    project.write('refinery.config.ts', config.replace("import { defineProject } from 'refinery';", "import { defineProject, task } from 'refinery';").replace("  name: 'customers',", `  name: 'customers',\n${extra}\n  tasks: {${tasks}},`));
  }

  it('refuses a second service for the same project, naming the process that holds it', async () => {
    project = TestProject.fromTemplate(engine);
    const first = startServe(project.dir);
    children.push(first);
    await apiUrl(project.dir, first);
    const second = refinery(['serve', '--port', '0'], { cwd: project.dir });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`refinery serve is already running for this project: PID ${first.pid}`);
    const status = refinery(['status'], { cwd: project.dir });
    expect(status.stderr).toContain(`refinery serve (PID ${first.pid}) holds this project's warehouse`);
  });

  it('runs when a file lands in a landing zone', async () => {
    project = TestProject.fromTemplate(engine);
    configure(`  triggers: { files: { pollEvery: 200 } },`);
    const child = startServe(project.dir);
    children.push(child);
    const url = await apiUrl(project.dir, child);
    project.write('landing/customers/day2.csv', 'customer_id,name,email,phone,country,status,signup_date,updated_at\n2001,New Person,new@example.com,,FR,active,2024-02-01,2024-02-01 10:00:00\n');
    const run = await until(async () => ((await (await fetch(`${url}/api/runs`)).json()) as RunRow[]).find((r) => r.trigger.startsWith('file:') && r.status === 'success'));
    expect(run.trigger).toBe('file:landing/customers/day2.csv');
  });

  it('after SIGKILL mid-run, a restarted service marks the run interrupted and resumes it without redoing completed steps', async () => {
    project = TestProject.fromTemplate(engine);
    configure('', `'slow': task({ after: ['gold.customer_360'], run: () => new Promise((r) => setTimeout(() => r('slow done'), 2500)) }), 'last': task({ after: ['slow'], run: () => 'last done' }),`);
    const first = startServe(project.dir);
    children.push(first);
    const url = await apiUrl(project.dir, first);
    expect((await fetch(`${url}/api/runs`, { method: 'POST' })).status).toBe(202);
    await until(async () => {
      const status = (await (await fetch(`${url}/api/status`)).json()) as { running?: { live: Record<string, { state: string }> } };
      return status.running?.live.slow?.state === 'running' ? true : undefined;
    });
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));

    const second = startServe(project.dir);
    children.push(second);
    const url2 = await apiUrl(project.dir, second);
    const runs = await until(async () => {
      const all = (await (await fetch(`${url2}/api/runs`)).json()) as RunRow[];
      return all.some((r) => r.runId === 2 && r.status === 'success') ? all : undefined;
    });
    expect(runs.map((r) => [r.runId, r.status, r.trigger, r.resumesRunId])).toEqual([
      [2, 'success', 'resume', 1],
      [1, 'interrupted', 'api', null],
    ]);
    const run2 = (await (await fetch(`${url2}/api/runs/2`)).json()) as { steps: { step: string; status: string; message: string }[] };
    const byStep = Object.fromEntries(run2.steps.map((s) => [s.step, s]));
    // Data steps that committed in run 1 are up to date now; nothing is redone.
    for (const done of ['bronze.customers', 'silver.customers', 'gold.customer_360']) expect(byStep[done]?.status).toBe('skipped');
    expect(byStep.slow).toMatchObject({ status: 'success', message: 'slow done' });
    expect(byStep.last).toMatchObject({ status: 'success', message: 'last done' });
    second.kill('SIGTERM');
    await new Promise((r) => second.once('exit', r));
    expect(existsSync(join(project.dir, '.refinery', 'serve.lock'))).toBe(false);
  });
});
