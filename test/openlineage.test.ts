import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RefineryError } from '../src/errors.js';
import { lineageEventsFile, openLineageListener } from '../src/lineage/openlineage-emitter.js';
import { TestClock } from '../src/orchestrator/clock.js';
import { emptyOutcome } from '../src/orchestrator/run-context.js';
import { runPipeline } from '../src/orchestrator/run-pipeline.js';
import type { RunEvent } from '../src/lineage/openlineage-events.js';
import { ENGINES } from './helpers/engines.js';
import { TestProject } from './helpers/temp-project.js';

/** The OpenLineage schemas (see test/fixtures/openlineage/README.md), each registered under its `$id`. */
const FIXTURES = fileURLToPath(new URL('./fixtures/openlineage/', import.meta.url));
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
for (const file of readdirSync(FIXTURES).filter((f) => f.endsWith('.json'))) ajv.addSchema(JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as object);
const CORE = 'https://openlineage.io/spec/2-0-2/OpenLineage.json';

/** Problems with one event: against the core RunEvent schema, then each facet against the schema its `_schemaURL` names. */
function schemaProblems(event: RunEvent): string[] {
  const problems: string[] = [];
  const check = (ref: string, value: unknown, where: string): void => {
    const validate = ajv.getSchema(ref);
    if (!validate) {
      problems.push(`${where}: no schema ${ref}`);
      return;
    }
    if (!validate(value)) problems.push(`${where}: ${ajv.errorsText(validate.errors)}`);
  };
  check(CORE, event, `${event.eventType} ${event.job.name}`);
  expect(event.schemaURL).toBe(`${CORE}#/$defs/RunEvent`);
  const facets: [string, Record<string, { _schemaURL: string }> | undefined][] = [
    ['run', event.run.facets],
    ['job', event.job.facets],
    ...event.inputs.flatMap((d) => [[`input ${d.name}`, d.facets], [`input ${d.name} inputFacets`, d.inputFacets]] as [string, Record<string, { _schemaURL: string }> | undefined][]),
    ...event.outputs.flatMap((d) => [[`output ${d.name}`, d.facets], [`output ${d.name} outputFacets`, d.outputFacets]] as [string, Record<string, { _schemaURL: string }> | undefined][]),
  ];
  for (const [where, group] of facets) for (const [name, facet] of Object.entries(group ?? {})) check(facet._schemaURL, facet, `${event.eventType} ${event.job.name} ${where}.${name}`);
  return problems;
}

function readEvents(project: TestProject, runId: number): RunEvent[] {
  return readFileSync(lineageEventsFile(project.dir, runId), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as RunEvent);
}

function withOpenLineage(project: TestProject, settings: string): void {
  const config = readFileSync(join(project.dir, 'refinery.config.ts'), 'utf8').replace(/\n {2}openlineage: .*,/, '');
  project.write('refinery.config.ts', config.replace("  name: 'customers',", `  name: 'customers',\n  openlineage: ${settings},`));
}

async function collector(status = 200): Promise<{ server: Server; url: string; received: RunEvent[] }> {
  const received: RunEvent[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/api/v1/lineage' && status < 300) received.push(JSON.parse(body) as RunEvent);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/lineage`, received };
}

describe.each(ENGINES)('OpenLineage events on $name', (engine) => {
  let project: TestProject;
  let server: Server | undefined;
  afterEach(async () => {
    await project?.dispose();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('writes schema-valid START and COMPLETE events for the run and every step, with lineage and quality facets', async () => {
    project = TestProject.fromTemplate(engine);
    const report = await project.run();
    const events = readEvents(project, report.runId);
    for (const event of events) expect(schemaProblems(event)).toEqual([]);
    // The validation has teeth: a bad run id, or a facet without what its schema requires, is caught.
    const sample = events.find((e) => e.job.name === 'gold.customer_360' && e.eventType === 'COMPLETE') as RunEvent;
    expect(schemaProblems({ ...sample, run: { ...sample.run, runId: 'run-1' } }).join()).toContain('must match format "uuid"');
    const { columnMetrics: _dropped, ...metrics } = sample.outputs[0]?.facets?.dataQualityMetrics ?? { columnMetrics: {} };
    const broken = { ...sample, outputs: [{ ...sample.outputs[0], facets: { dataQualityMetrics: metrics } }] } as unknown as RunEvent;
    expect(schemaProblems(broken).join()).toContain("must have required property 'columnMetrics'");

    // The run is the parent job; each step is a job of its own, started before it completes.
    const [first, last] = [events[0] as RunEvent, events[events.length - 1] as RunEvent];
    expect([first.eventType, first.job.name, last.eventType, last.job.name]).toEqual(['START', 'customers', 'COMPLETE', 'customers']);
    expect(last.run.runId).toBe(first.run.runId);
    for (const step of report.steps) {
      const mine = events.filter((e) => e.job.name === step.step);
      expect(mine.map((e) => e.eventType), step.step).toEqual(['START', 'COMPLETE']);
      expect(mine[0]?.run.runId).toBe(mine[1]?.run.runId);
      expect(mine[1]?.run.facets?.parent).toMatchObject({ run: { runId: first.run.runId }, job: { namespace: 'customers', name: 'customers' } });
    }

    const silver = events.find((e) => e.job.name === 'silver.customers' && e.eventType === 'COMPLETE') as RunEvent;
    expect(silver.inputs.map((d) => d.name)).toEqual(['bronze.customers']);
    expect(silver.inputs[0]?.inputFacets?.dataQualityMetrics).toMatchObject({ rowCount: 8 });
    expect(silver.outputs.map((d) => d.name)).toEqual(['silver.customers', 'quarantine.customers']);
    const out = silver.outputs[0]?.facets ?? {};
    expect(out.dataQualityMetrics).toMatchObject({ rowCount: 4, rowsIn: 8, rowsWritten: 4, rowsQuarantined: 3, rowsSuperseded: 1, quarantinedByReason: { invalid_email: 2, invalid_customer_id: 1 } });
    expect((out.schema as unknown as { fields: { name: string; type: string }[] }).fields.slice(0, 2)).toEqual([
      { name: 'customer_id', type: 'BIGINT' },
      { name: 'email', type: 'VARCHAR' },
    ]);
    const assertions = (out.dataQualityAssertions as unknown as { assertions: { assertion: string; success: boolean; failures: number }[] }).assertions;
    expect(assertions.map((a) => [a.assertion, a.success, a.failures])).toEqual([
      ['invalid_customer_id', false, 1],
      ['invalid_email', false, 2],
      ['invalid_status', true, 0],
      ['unparsed_signup_date', false, 1],
    ]);
    expect(silver.outputs[1]?.outputFacets?.outputStatistics).toMatchObject({ rowCount: 3 });

    const gold = events.find((e) => e.job.name === 'gold.customer_360' && e.eventType === 'COMPLETE') as RunEvent;
    expect(gold.job.facets?.sql).toMatchObject({ dialect: 'duckdb' });
    const lineage = gold.outputs[0]?.facets?.columnLineage as unknown as {
      fields: Record<string, { inputFields: { name: string; field: string; transformations: { type: string; subtype: string }[] }[] }>;
      dataset: { name: string; field: string; transformations: { type: string; subtype: string }[] }[];
    };
    expect(lineage.fields.total_spend?.inputFields).toEqual([expect.objectContaining({ name: 'silver.orders', field: 'amount', transformations: [expect.objectContaining({ type: 'DIRECT', subtype: 'AGGREGATION' })] })]);
    expect(lineage.dataset).toContainEqual(expect.objectContaining({ name: 'silver.orders', field: 'customer_id', transformations: [expect.objectContaining({ type: 'INDIRECT', subtype: 'JOIN' })] }));
    const bronze = events.find((e) => e.job.name === 'bronze.orders' && e.eventType === 'COMPLETE') as RunEvent;
    expect(bronze.inputs[0]).toMatchObject({ namespace: 'file', name: join(project.dir, 'landing/orders/*.csv') });
  });

  it('builds the steps\' end events after the steps, every row count in one query, unless one has waited too long', async () => {
    project = TestProject.fromTemplate(engine);
    const { plan, warehouse } = await project.open();
    // Which facet queries ran while a step was working: none should, so the steps never share the CPUs with them.
    const counted: { sql: string; during: number }[] = [];
    let running = 0;
    const query = warehouse.query.bind(warehouse);
    warehouse.query = (sql, params) => {
      if (/count\(\*\)/.test(sql)) counted.push({ sql, during: running });
      return query(sql, params);
    };
    const report = await runPipeline(plan, warehouse, { progress: (e) => (running += e.type === 'step-start' ? 1 : e.type === 'step-end' ? -1 : 0) });
    expect(report.status).toBe('success');
    expect(counted).toEqual([{ sql: expect.stringMatching(/^SELECT \(SELECT count\(\*\) FROM .*\) AS c0, \(SELECT count/), during: 0 }]);
    const gold = readEvents(project, report.runId).find((e) => e.job.name === 'gold.customer_360' && e.eventType === 'COMPLETE');
    const { rows } = await query('SELECT count(*) AS n FROM gold.customer_360');
    expect(gold?.outputs[0]?.facets?.dataQualityMetrics).toMatchObject({ rowCount: Number(rows[0]?.n) });
    expect(Number(rows[0]?.n)).toBeGreaterThan(0);

    // A long run does not hold an ended step's event back for more than endEventDelayMs.
    const clock = new TestClock('2024-01-02T00:00:00Z');
    const listener = openLineageListener(plan, warehouse, { runId: 99, startedAt: clock.now() }, { clock, endEventDelayMs: 5000 });
    const step = plan.steps.find((s) => s.name === 'bronze.orders') as (typeof plan.steps)[number];
    listener.runStarted(clock.now());
    listener.stepStarted(step, clock.now());
    listener.stepEnded(step, { ...emptyOutcome(step.name, 'bronze'), status: 'skipped', durationMs: 0 }, clock.now());
    await clock.tick(4999);
    expect(readEvents(project, 99).map((e) => `${e.eventType} ${e.job.name}`)).toEqual(['START customers', 'START bronze.orders']);
    await clock.tick(1);
    await vi.waitFor(() => expect(readEvents(project, 99).map((e) => `${e.eventType} ${e.job.name}`)).toEqual(['START customers', 'START bronze.orders', 'COMPLETE bronze.orders']));
    await listener.runEnded('success', clock.now());
    expect(readEvents(project, 99).map((e) => e.eventType)).toEqual(['START', 'START', 'COMPLETE', 'COMPLETE']);
  });

  it('ends a failing step with FAIL and an error message, and the run with FAIL; steps that never started emit nothing', async () => {
    project = TestProject.fromTemplate(engine);
    const config = readFileSync(join(project.dir, 'refinery.config.ts'), 'utf8');
    project.write('refinery.config.ts', config.replace("rule: { in: ['active', 'inactive', 'suspended', 'pending'] }", "rule: { in: ['active'] }, action: 'fail'"));
    const report = await project.run();
    expect(report.status).toBe('failed');
    const events = readEvents(project, report.runId);
    for (const event of events) expect(schemaProblems(event)).toEqual([]);
    const failed = events.filter((e) => e.job.name === 'silver.customers');
    expect(failed.map((e) => e.eventType)).toEqual(['START', 'FAIL']);
    expect(failed[1]?.run.facets?.errorMessage).toMatchObject({ programmingLanguage: 'TYPESCRIPT', message: expect.stringContaining("Check 'invalid_status' (action: fail) failed") });
    expect(events.filter((e) => e.job.name === 'gold.customer_360')).toEqual([]);
    expect(events[events.length - 1]).toMatchObject({ eventType: 'FAIL', job: { name: 'customers' } });
  });

  it('also POSTs every event to a configured endpoint, in order', async () => {
    project = TestProject.fromTemplate(engine);
    const endpoint = await collector();
    server = endpoint.server;
    withOpenLineage(project, `{ url: '${endpoint.url}', namespace: 'lab' }`);
    const report = await project.run();
    const written = readEvents(project, report.runId);
    expect(endpoint.received).toEqual(written);
    expect(written.every((e) => e.job.namespace === 'lab')).toBe(true);
    expect(JSON.parse(readFileSync(lineageEventsFile(project.dir, report.runId).replace('.jsonl', '.delivery.json'), 'utf8'))).toMatchObject({ delivered: written.length, undelivered: 0, errors: [] });
  });

  it('does not fail the run when the endpoint fails or is not configured, and records why', async () => {
    project = TestProject.fromTemplate(engine);
    const endpoint = await collector(500);
    server = endpoint.server;
    withOpenLineage(project, `{ url: '${endpoint.url}' }`);
    const report = await project.run();
    expect(report.status).toBe('success');
    const events = readEvents(project, report.runId);
    expect(events.length).toBe(2 + 2 * report.steps.length);
    const delivery = JSON.parse(readFileSync(lineageEventsFile(project.dir, report.runId).replace('.jsonl', '.delivery.json'), 'utf8')) as { delivered: number; undelivered: number; errors: string[] };
    expect(delivery).toMatchObject({ delivered: 0, undelivered: events.length });
    expect(delivery.errors[0]).toMatch(/^HTTP 500 from 127\.0\.0\.1:\d+$/);

    withOpenLineage(project, `{ urlEnv: 'REFINERY_TEST_NO_SUCH_VARIABLE' }`);
    project.write('landing/orders/orders_day2.csv', 'order_id,customer_id,order_date,amount\n5008,1001,2024-01-20,10.00\n');
    const second = await project.run();
    expect(second.status).toBe('success');
    expect(JSON.parse(readFileSync(lineageEventsFile(project.dir, second.runId).replace('.jsonl', '.delivery.json'), 'utf8'))).toMatchObject({ delivered: 0, errors: ['environment variable REFINERY_TEST_NO_SUCH_VARIABLE is not set'] });
  });

  it('rejects an endpoint that is not a URL when the project is loaded, saying where', async () => {
    project = TestProject.fromTemplate(engine);
    withOpenLineage(project, `{ url: 'marquez:5000' }`);
    const error = await project.open().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RefineryError);
    expect((error as RefineryError).data).toMatchObject({ code: 'config_invalid_url', path: 'openlineage.url', line: 14, allowed: "an absolute URL, e.g. 'http://localhost:5000/api/v1/lineage'" });
  });
});
