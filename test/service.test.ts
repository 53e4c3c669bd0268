import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock, TestClock, type Clock } from '../src/orchestrator/clock.js';
import { deliverAlerts } from '../src/orchestrator/alerts.js';
import { createApi } from '../src/orchestrator/http-api.js';
import { Service, type ServiceEvent } from '../src/orchestrator/service.js';
import { ENGINES } from './helpers/engines.js';
import { TestProject } from './helpers/temp-project.js';

/** Adds service settings (and a gate task the test controls) to the customers template. */
function configure(project: TestProject, settings: string, tasks = ''): void {
  const config = readFileSync(`${project.dir}/refinery.config.ts`, 'utf8');
  project.write(
    'refinery.config.ts',
    config
      .replace("import { defineProject } from 'refinery';", "import { defineProject, task } from 'refinery';\nconst gate = globalThis as unknown as { release?: Promise<void> };")
      .replace("  name: 'customers',", `  name: 'customers',\n${settings}\n  tasks: {${tasks}},`),
  );
}

const GATE_TASK = `'wait-for-gate': task({ after: ['gold.customer_360'], run: async () => { await (globalThis as { release?: Promise<void> }).release; return 'gate opened'; } }),`;

describe.each(ENGINES)('service on $name (virtual time)', (engine) => {
  let project: TestProject;
  let service: Service | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    delete (globalThis as { release?: Promise<void> }).release;
    await project?.dispose();
  });

  async function startService(clock: Clock, events: ServiceEvent[] = []): Promise<Service> {
    const { plan, warehouse } = await project.open();
    service = new Service({ plan, warehouse, clock, onEvent: (e) => events.push(e) });
    await service.start();
    return service;
  }

  it('fires a cron schedule at its time, and skips a fire while a run is still going (overlap: skip)', async () => {
    project = TestProject.fromTemplate(engine);
    configure(project, `  schedules: { hourly: { cron: '0 0 * * * *' } },`, GATE_TASK);
    let open!: () => void;
    (globalThis as { release?: Promise<void> }).release = new Promise<void>((r) => (open = r));
    const clock = new TestClock('2024-03-01T09:59:00Z');
    const events: ServiceEvent[] = [];
    const svc = await startService(clock, events);
    expect(svc.status().nextFires.hourly).toBe('2024-03-01T10:00:00.000Z');
    await clock.tick(60_000);
    await waitFor(() => svc.status().running?.live['wait-for-gate']?.state === 'running');
    await clock.tick(3_600_000); // 11:00 fires while the 10:00 run waits at the gate
    expect(events.map((e) => e.message)).toContainEqual(expect.stringMatching(/^schedule hourly .* fired for 2024-03-01T11:00:00.000Z: a run is in progress \(overlap policy: skip\)/));
    open();
    await svc.idle();
    expect(svc.history.map((r) => [r.status, r.steps.at(-1)?.message])).toEqual([['success', 'gate opened']]);
    const { warehouse } = await project.open();
    const { rows } = await warehouse.query(`SELECT fire_time, outcome FROM refinery.schedule_fires ORDER BY fire_time`);
    expect(rows).toEqual([
      { fire_time: '2024-03-01T10:00:00', outcome: 'started' },
      { fire_time: '2024-03-01T11:00:00', outcome: 'skipped_overlap' },
    ]);
  });

  it('queues one run behind the current one with overlap: queue', async () => {
    project = TestProject.fromTemplate(engine);
    configure(project, `  schedules: { often: { every: '10m', overlap: 'queue' } },`, GATE_TASK);
    let open!: () => void;
    (globalThis as { release?: Promise<void> }).release = new Promise<void>((r) => (open = r));
    const clock = new TestClock('2024-03-01T10:05:00Z');
    const svc = await startService(clock);
    await clock.tick(5 * 60_000);
    await waitFor(() => svc.status().running?.live['wait-for-gate']?.state === 'running');
    await clock.tick(10 * 60_000);
    await clock.tick(10 * 60_000);
    expect(svc.status().queued).toBe('schedule:often');
    open();
    await waitFor(() => svc.history.length === 2);
    await svc.idle();
    expect(svc.history.map((r) => r.status)).toEqual(['success', 'success']);
  });

  it('catches up a missed fire within the window on start, and not one outside it', async () => {
    project = TestProject.fromTemplate(engine);
    configure(project, `  schedules: { daily: { cron: '0 0 7 * * *', timezone: 'Europe/London', catchUp: '6h' }, weekly: { cron: '0 0 7 * * 1', catchUp: '1h' } },`);
    const clock = new TestClock('2024-07-10T09:30:00Z'); // 10:30 in London: 07:00 BST (06:00 UTC) was missed 3.5 h ago
    const events: ServiceEvent[] = [];
    const svc = await startService(clock, events);
    await svc.idle();
    const fired = events.filter((e) => e.type === 'schedule_fired').map((e) => e.message);
    expect(fired).toEqual([expect.stringMatching(/^schedule daily .* fired for 2024-07-10T06:00:00.000Z \(catch-up\): run started/)]);
    expect(svc.status().nextFires.daily).toBe('2024-07-11T06:00:00.000Z');
  });

  it('accepts runs over the API, requires the bearer token when one is set, and explains steps', async () => {
    project = TestProject.fromTemplate(engine);
    const clock = new TestClock();
    const svc = await startService(clock);
    const api = createApi(svc, { token: 's3cret' });
    expect((await api({ method: 'POST', url: '/api/runs', headers: {} })).status).toBe(401);
    expect((await api({ method: 'POST', url: '/api/runs', headers: { authorization: 'Bearer wrong!' } })).status).toBe(401);
    const accepted = await api({ method: 'POST', url: '/api/runs', headers: { authorization: 'Bearer s3cret' }, body: { select: ['+silver.customers'] } });
    expect(accepted).toEqual({ status: 202, body: { accepted: true, state: 'started', reason: 'run started (api)' } });
    await svc.idle();
    const runs = await api({ method: 'GET', url: '/api/runs', headers: { authorization: 'Bearer s3cret' } });
    expect(runs.body).toEqual([expect.objectContaining({ runId: 1, status: 'success' })]);
    const run = (await api({ method: 'GET', url: '/api/runs/1', headers: { authorization: 'Bearer s3cret' } })).body as { steps: { step: string }[] };
    expect(run.steps.map((s) => s.step).sort()).toEqual(['bronze.customers', 'silver.customers']);
    const why = await api({ method: 'GET', url: '/api/why/gold.customer_360', headers: { authorization: 'Bearer s3cret' } });
    expect(why.body).toMatchObject({ sentence: 'Run 1 did not include gold.customer_360 (it selected +silver.customers).' });
  });

  it('sends one alert per root cause to a webhook: the failed step and the steps it kept from running', async () => {
    const received: { text: string; alert: { kind: string; subject: string; downstream: string[] } }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as { port: number }).port;
    try {
      project = TestProject.fromTemplate(engine);
      configure(
        project,
        `  alerts: { webhook: 'http://127.0.0.1:${port}/hook', quality: { 'silver.customers': { maxQuarantinedPct: 10 } } },`,
        `'customer-api': task({ retry: { attempts: 2, delay: 1 }, run: () => { throw Object.assign(new Error('503 Service Unavailable'), { status: 503 }); } }),
         'enrich': task({ after: ['customer-api'], run: () => 1 }), 'score': task({ after: ['enrich'], run: () => 1 }), 'report': task({ after: ['score', 'gold.customer_360'], run: () => 1 }),`,
      );
      // Retries wait on the clock: this test uses real time (the delay is 1 ms).
      const svc = await startService(systemClock);
      svc.requestRun({ trigger: 'test', overlap: 'skip' });
      await waitFor(() => svc.history.length === 1);
      await waitFor(() => received.length === 2);
      const failure = received.find((r) => r.alert.kind === 'step_failed');
      expect(failure?.text).toBe('[customers] customer-api failed after 2 attempts → 3 downstream steps did not run (enrich, score, report). Cause: 503 Service Unavailable');
      expect(failure?.alert.downstream).toEqual(['enrich', 'score', 'report']);
      expect(received.find((r) => r.alert.kind === 'quality')?.text).toBe('[customers] silver.customers quarantined 37.5% of 8 incoming rows (limit 10%): invalid_email 2, invalid_customer_id 1.');
      const { warehouse } = await project.open();
      expect((await warehouse.query(`SELECT kind, subject FROM refinery.alerts ORDER BY kind`)).rows).toEqual([
        { kind: 'quality', subject: 'silver.customers' },
        { kind: 'step_failed', subject: 'customer-api' },
      ]);
    } finally {
      receiver.close();
    }
  });

  it('alerts when a table is not refreshed by its deadline', async () => {
    project = TestProject.fromTemplate(engine);
    configure(project, `  alerts: { command: 'cat > "${'$'}{REFINERY_ALERT_OUT}"', freshness: { 'gold.customer_360': { by: '07:00' } } },`);
    const out = `${project.dir}/alert.json`;
    const clock = new TestClock('2024-05-01T06:00:00Z');
    const { plan, warehouse } = await project.open();
    service = new Service({ plan, warehouse, clock, env: { ...process.env, REFINERY_ALERT_OUT: out } });
    await service.start();
    await clock.tick(3_600_000);
    await waitFor(() => {
      try {
        return readFileSync(out, 'utf8').length > 0;
      } catch {
        return false;
      }
    });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ kind: 'freshness', subject: 'gold.customer_360', text: '[customers] gold.customer_360 was not refreshed by 07:00 (UTC); last built never.' });
  });

  it('delivers to a command that never reads its input, however long the alert', async () => {
    project = TestProject.fromTemplate(engine);
    configure(project, `  alerts: { command: 'exit 0' },`);
    const { plan, warehouse } = await project.open();
    // Longer than a pipe's buffer: the write meets a closed pipe (EPIPE), which must not crash the service.
    const text = 'x'.repeat(1 << 20);
    const deliveries = await deliverAlerts(plan, [{ kind: 'quality', project: 'customers', subject: 'silver.customers', text }], warehouse, new TestClock('2024-05-01T06:00:00Z'));
    expect(deliveries).toEqual([[{ channel: 'command', ok: true }]]);
    expect((await warehouse.query(`SELECT kind, length(text) AS n FROM refinery.alerts`)).rows).toEqual([{ kind: 'quality', n: 1 << 20 }]);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 20));
  }
}
