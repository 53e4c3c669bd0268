import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HttpSourceConfig, ProjectConfig } from '../src/config/types.js';
import { renderStep } from '../src/cli/render-run.js';
import { RefineryError } from '../src/errors.js';
import { systemClock, type Clock } from '../src/orchestrator/clock.js';
import type { StepOutcome } from '../src/orchestrator/run-context.js';
import { classifyError } from '../src/orchestrator/error-classification.js';
import { runPipeline, type RunReport } from '../src/orchestrator/run-pipeline.js';
import { previewRun } from '../src/incremental/run-preview.js';
import { nextLink } from '../src/sources/http/http-extract.js';
import { ENGINES } from './helpers/engines.js';
import { projectFile } from './helpers/project-files.js';
import { TestProject } from './helpers/temp-project.js';

const TOKEN = 'tok-5ecret-7f3a9c';
process.env.REFINERY_TEST_SUPPORT_TOKEN = TOKEN;

/** The support system's tickets API, as records: nested values included. */
const CUSTOMERS = [
  { id: 1001, full_name: 'John S.', tier: 'premium', updated: '2024-01-18', tags: ['vip'] },
  { id: 1002, full_name: 'Ann Lee', tier: null, updated: '2024-01-19', tags: [] },
  { id: 1003, full_name: '', tier: 'standard', updated: '2024-01-20', address: { city: 'Leeds' } },
  { id: 1004, full_name: 'Bo "Bob" Ray', tier: 'standard', updated: '2024-01-20' },
  { id: 1005, full_name: 'Zoë', tier: 'premium', updated: '2024-01-21' },
];

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, hit: number) => void;

/** A local API: each path has a handler that is told how many times it was hit (to fail the first time, say). */
class FakeApi {
  private server: Server | undefined;
  readonly hits = new Map<string, number>();
  readonly requests: { path: string; auth: string | undefined }[] = [];
  readonly routes = new Map<string, Handler>();
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', `http://127.0.0.1:${this.port}`);
      const key = `${url.pathname}?${url.searchParams.toString()}`;
      const hit = (this.hits.get(key) ?? 0) + 1;
      this.hits.set(key, hit);
      this.requests.push({ path: key, auth: req.headers.authorization });
      const route = this.routes.get(url.pathname);
      if (!route) return json(res, 404, { message: `no route ${url.pathname}` });
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(res, 401, { error: { message: `token ${req.headers.authorization ?? '(none)'} is not valid` } });
      route(req, res, url, hit);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Requests to a path (any query). */
  count(pathname: string): number {
    return this.requests.filter((r) => r.path.startsWith(`${pathname}?`)).length;
  }

  reset(): void {
    this.hits.clear();
    this.requests.length = 0;
    this.routes.clear();
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * Virtual time that runs 50× faster than the wall clock: every wait goes through it (and is recorded), so a
 * Retry-After of 1 s costs 20 ms and the test can still check that 1 s was asked for.
 */
class FastClock implements Clock {
  readonly waits: number[] = [];
  private readonly realStart = performance.now();
  private readonly virtualStart = Date.now();
  constructor(private readonly factor = 50) {}
  now(): Date {
    return new Date(this.virtualStart + (performance.now() - this.realStart) * this.factor);
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.waits.push(ms);
    return systemClock.sleep(ms / this.factor, signal);
  }
}

const api = new FakeApi();
beforeAll(() => api.start());
afterAll(() => api.stop());

describe.each(ENGINES)('HTTP JSON source on $name', (engine) => {
  let project: TestProject;
  afterEach(async () => {
    api.reset();
    await project?.dispose();
  });

  const auth = { valueEnv: 'REFINERY_TEST_SUPPORT_TOKEN', prefix: 'Bearer ' };

  function setup(source: Omit<HttpSourceConfig, 'kind'>, extra: Partial<ProjectConfig> = {}): void {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({ name: 'apitest', sources: { support: { kind: 'http', auth, request: { delay: '100ms', timeout: '10m' }, ...source } }, ...extra }),
    });
  }

  async function run(clock = new FastClock()): Promise<RunReport & { clock: FastClock }> {
    const { plan, warehouse } = await project.open();
    return { ...(await runPipeline(plan, warehouse, { clock })), clock };
  }

  const bronze = () => project.rows(`SELECT id, full_name, tier, tags, address, _source_row, _batch_id FROM bronze.support ORDER BY _batch_id, _source_row`);

  /** Everything the warehouse holds, as text, plus the lineage events written beside it. */
  async function everythingStored(): Promise<string> {
    const tables = await project.rows(`SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_type = 'BASE TABLE'`);
    const parts: string[] = [];
    for (const { s, t } of tables) parts.push(String((await project.rows(`SELECT string_agg(CAST(x AS VARCHAR), '|') AS v FROM "${String(s)}"."${String(t)}" x`))[0]?.v ?? ''));
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (!name.endsWith('.duckdb') && !name.endsWith('.wal')) parts.push(readFileSync(path, 'utf8'));
      }
    };
    walk(join(project.dir, '.refinery'));
    return parts.join('\n');
  }

  it('page pagination through a 429 (Retry-After honoured), a 500 and a dropped connection: every record once, in order, no token stored', async () => {
    api.routes.set('/customers', (req, res, url, hit) => {
      const page = Number(url.searchParams.get('page'));
      const size = Number(url.searchParams.get('per_page'));
      if (page === 1 && hit === 1) return json(res, 429, { message: 'slow down' }, { 'retry-after': '1' });
      if (page === 2 && hit === 1) return json(res, 500, { message: 'database hiccup' });
      if (page === 3 && hit === 1) return req.socket.destroy();
      json(res, 200, { data: { items: CUSTOMERS.slice((page - 1) * size, page * size), page } });
    });
    setup({ url: api.url('/customers'), records: 'data.items', pagination: { type: 'page', size: 2 } });
    const report = await run();
    expect(report.status).toBe('success');
    expect(report.steps[0]?.message).toBe('full extract: 5 records (4 pages)');
    // 4 pages (the last one empty) plus one retry each for the 429, the 500 and the dropped connection.
    expect(api.count('/customers')).toBe(7);
    expect(api.requests.every((r) => r.auth === `Bearer ${TOKEN}`)).toBe(true);
    expect(report.clock.waits).toContain(1000);
    expect(await bronze()).toEqual([
      { id: '1001', full_name: 'John S.', tier: 'premium', tags: '["vip"]', address: null, _source_row: 1, _batch_id: 1 },
      { id: '1002', full_name: 'Ann Lee', tier: null, tags: '[]', address: null, _source_row: 2, _batch_id: 1 },
      { id: '1003', full_name: '', tier: 'standard', tags: null, address: '{"city":"Leeds"}', _source_row: 3, _batch_id: 1 },
      { id: '1004', full_name: 'Bo "Bob" Ray', tier: 'standard', tags: null, address: null, _source_row: 4, _batch_id: 1 },
      { id: '1005', full_name: 'Zoë', tier: 'premium', tags: null, address: null, _source_row: 5, _batch_id: 1 },
    ]);
    expect(await project.rows(`SELECT DISTINCT _source_file FROM bronze.support`)).toEqual([{ _source_file: `GET ${api.url('/customers')} (4 pages)` }]);
    // A second full run replaces the first batch downstream.
    await run();
    expect(await project.rows(`SELECT batch_id, load_kind, rows FROM refinery.batches ORDER BY batch_id`)).toEqual([
      { batch_id: 1, load_kind: 'full', rows: 5 },
      { batch_id: 2, load_kind: 'full', rows: 5 },
    ]);
    expect(await everythingStored()).not.toContain(TOKEN);
  });

  it('offset pagination over a bare array, with extra query parameters', async () => {
    api.routes.set('/offset', (_req, res, url) => {
      const offset = Number(url.searchParams.get('offset'));
      const limit = Number(url.searchParams.get('limit'));
      expect(url.searchParams.get('region')).toBe('eu');
      json(res, 200, CUSTOMERS.slice(offset, offset + limit));
    });
    setup({ url: api.url('/offset'), params: { region: 'eu' }, pagination: { type: 'offset', limit: 3 } });
    const report = await run();
    expect(report.steps[0]?.message).toBe('full extract: 5 records (3 pages)');
    expect(api.requests.map((r) => r.path)).toEqual(['/offset?region=eu&offset=0&limit=3', '/offset?region=eu&offset=3&limit=3', '/offset?region=eu&offset=5&limit=3']);
    expect((await bronze()).map((r) => r.id)).toEqual(['1001', '1002', '1003', '1004', '1005']);
  });

  it('cursor pagination: the next cursor from the body goes back as a query parameter until it is empty', async () => {
    api.routes.set('/cursor', (_req, res, url) => {
      const at = Number(url.searchParams.get('after') ?? '0');
      const items = CUSTOMERS.slice(at, at + 2);
      json(res, 200, { items, meta: { next_cursor: at + 2 < CUSTOMERS.length ? String(at + 2) : null } });
    });
    setup({ url: api.url('/cursor'), records: 'items', pagination: { type: 'cursor', field: 'meta.next_cursor', param: 'after' } });
    const report = await run();
    expect(report.steps[0]?.message).toBe('full extract: 5 records (3 pages)');
    expect(api.requests.map((r) => r.path)).toEqual(['/cursor?', '/cursor?after=2', '/cursor?after=4']);
  });

  it('Link header pagination: follows rel="next" (relative or absolute) until there is none', async () => {
    api.routes.set('/linked', (_req, res, url) => {
      const page = Number(url.searchParams.get('p') ?? '1');
      const links = [`<${api.url('/linked?p=1')}>; rel="first"`];
      if (page === 1) links.push('</linked?p=2>; rel="next"');
      if (page === 2) links.push(`<${api.url('/linked?p=3')}>; rel="next last"`);
      json(res, 200, CUSTOMERS.slice((page - 1) * 2, page * 2), { link: links.join(', ') });
    });
    setup({ url: api.url('/linked'), pagination: { type: 'link' } });
    const report = await run();
    expect(report.steps[0]?.message).toBe('full extract: 5 records (3 pages)');
    expect(api.requests.map((r) => r.path)).toEqual(['/linked?', '/linked?p=2', '/linked?p=3']);
  });

  it('a Link to another origin is not followed, so the token never goes there', async () => {
    api.routes.set('/leaky', (_req, res) => json(res, 200, CUSTOMERS.slice(0, 1), { link: '<http://localhost:9/steal>; rel="next"' }));
    setup({ url: api.url('/leaky'), pagination: { type: 'link' } });
    const report = await run();
    expect(report.steps[0]).toMatchObject({ status: 'failed', error: { code: 'http_foreign_origin' } });
    expect(await project.rows(`SELECT count(*) AS n FROM refinery.batches`)).toEqual([{ n: 0 }]);
  });

  it('a 401 is not retried: the error names the status, the URL and the body’s message, without the token it echoed', async () => {
    api.routes.set('/customers', (_req, res) => json(res, 200, CUSTOMERS));
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({
        name: 'apitest',
        sources: { support: { kind: 'http', url: api.url('/customers'), auth: { ...auth, prefix: 'Token ' }, request: { delay: '100ms', timeout: '10m' } } },
      }),
    });
    const report = await run();
    const step = report.steps[0];
    expect(step).toMatchObject({ status: 'failed', error: { code: 'http_client_error', value: 401 } });
    expect(step?.message).toBe(`GET ${api.url('/customers')} answered 401 Unauthorized: token Token *** is not valid. Retrying will not help.`);
    expect(step?.error?.hint).toContain('$REFINERY_TEST_SUPPORT_TOKEN');
    expect(api.count('/customers')).toBe(1);
    expect(classifyError(new RefineryError('pipeline', step?.error as never)).retryable).toBe(false);
    expect(JSON.stringify(report)).not.toContain(TOKEN);
    expect(await everythingStored()).not.toContain(TOKEN);
  });

  it('gives up after the configured attempts with a retryable source_unreachable; a request that hangs times out', async () => {
    api.routes.set('/down', (_req, res) => json(res, 503, { message: 'maintenance' }));
    api.routes.set('/hang', () => undefined);
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({
        name: 'apitest',
        sources: {
          down: { kind: 'http', url: api.url('/down'), auth, request: { attempts: 3, delay: '200ms', maxDelay: '300ms', timeout: '10m' } },
          hang: { kind: 'http', url: api.url('/hang'), auth, request: { attempts: 2, timeout: '5s', delay: '10ms' } },
        },
      }),
    });
    const report = await run();
    const down = report.steps.find((s) => s.step === 'bronze.down');
    expect(down).toMatchObject({ status: 'failed', error: { code: 'source_unreachable' } });
    expect(down?.message).toBe(`GET ${api.url('/down')} failed 3 times; last: 503 Service Unavailable: maintenance.`);
    expect(api.count('/down')).toBe(3);
    expect(report.clock.waits).toEqual(expect.arrayContaining([200, 300]));
    expect(classifyError(new RefineryError('pipeline', down?.error as never)).retryable).toBe(true);
    const hang = report.steps.find((s) => s.step === 'bronze.hang');
    expect(hang?.message).toBe(`GET ${api.url('/hang')} failed 2 times; last: no answer within 5000 ms.`);
    expect(api.count('/hang')).toBe(2);
  });

  it('rate limit: requests are spaced through the clock', async () => {
    const arrivals: number[] = [];
    api.routes.set('/customers', (_req, res, url) => {
      arrivals.push(performance.now());
      const page = Number(url.searchParams.get('page'));
      json(res, 200, CUSTOMERS.slice((page - 1) * 2, page * 2));
    });
    setup({ url: api.url('/customers'), pagination: { type: 'page', size: 2 }, rateLimit: { perSecond: 10 } });
    const report = await run(new FastClock(1));
    expect(report.steps[0]?.message).toBe('full extract: 5 records (4 pages)');
    // 4 requests at most 10 a second: started 100 ms apart (the first arrives a little later, having opened the
    // connection), and the waits went through the clock.
    expect(arrivals).toHaveLength(4);
    expect((arrivals[3] as number) - (arrivals[0] as number)).toBeGreaterThanOrEqual(250);
    expect(report.clock.waits.filter((w) => w > 0 && w <= 100).length).toBeGreaterThanOrEqual(3);
  });

  it('cursor load: sends the watermark, keeps the greatest record value as the next one, drops records read again', async () => {
    const rows = CUSTOMERS.slice(0, 3).map((c) => ({ ...c }));
    api.routes.set('/changes', (_req, res, url) => {
      const since = url.searchParams.get('updated_since');
      json(res, 200, { data: rows.filter((r) => since === null || r.updated >= since) });
    });
    setup({ url: api.url('/changes'), records: 'data', load: { strategy: 'cursor', param: 'updated_since', field: 'updated' } });
    const first = await run();
    expect(first.steps[0]?.message).toBe('cursor updated: 3 new or changed records of 3 read (1 page); watermark (none) → 2024-01-20');
    // What `refinery run` prints for it: records fetched, not "0 files ingested" (colours or not: CI=true turns them on).
    expect(stripVTControlCharacters(renderStep(first.steps[0] as StepOutcome)).split('\n')[0]).toMatch(/^✔ bronze\.\w+ +3 rows fetched$/);
    // Another record on the watermark's day, and a change to an older one.
    rows.push({ ...(CUSTOMERS[3] as (typeof rows)[number]) });
    (rows[0] as (typeof rows)[number]).tier = 'standard';
    (rows[0] as (typeof rows)[number]).updated = '2024-01-22';
    const second = await run();
    expect(api.requests.at(-1)?.path).toBe('/changes?updated_since=2024-01-20');
    expect(second.steps[0]?.message).toBe('cursor updated: 2 new or changed records of 3 read (1 page); watermark 2024-01-20 → 2024-01-22');
    expect(await project.rows(`SELECT id, tier, _batch_id, _source_row FROM bronze.support WHERE _batch_id = 2 ORDER BY _source_row`)).toEqual([
      { id: '1001', tier: 'standard', _batch_id: 2, _source_row: 1 },
      { id: '1004', tier: 'standard', _batch_id: 2, _source_row: 3 },
    ]);
    expect(await project.rows(`SELECT rows, load_kind FROM refinery.batches WHERE batch_id = 2`)).toEqual([{ rows: 2, load_kind: 'cursor' }]);
    const third = await run();
    expect(third.steps[0]).toMatchObject({ status: 'skipped', message: 'cursor updated: 0 new or changed records of 1 read (1 page); watermark 2024-01-22 → 2024-01-22' });
    const { plan, warehouse } = await project.open();
    expect(await previewRun(plan, warehouse)).toEqual([{ source: 'support', kind: 'http', reads: `records of GET ${api.url('/changes')}?updated_since=2024-01-22 (one request); those already loaded are dropped` }]);
  });

  it('http → silver: the API records are typed and checked like any bronze table', async () => {
    api.routes.set('/customers', (_req, res) => json(res, 200, CUSTOMERS));
    setup({ url: api.url('/customers') }, {
      silver: { support: { columns: { id: { type: 'integer' }, full_name: { clean: ['trim'] }, tier: {}, updated: { type: 'date' } }, key: 'id', checks: [{ name: 'has_name', column: 'full_name', rule: 'not_null' }] } },
    });
    await run();
    expect(await project.rows(`SELECT id, tier, CAST(updated AS VARCHAR) AS updated FROM silver.support ORDER BY id`)).toEqual([
      { id: 1001, tier: 'premium', updated: '2024-01-18' },
      { id: 1002, tier: null, updated: '2024-01-19' },
      { id: 1004, tier: 'standard', updated: '2024-01-20' },
      { id: 1005, tier: 'premium', updated: '2024-01-21' },
    ]);
    expect(await project.rows(`SELECT id, _reason FROM quarantine.support`)).toEqual([{ id: '1003', _reason: 'has_name' }]);
  });

  it('says where the records are when the records path is wrong, and refuses a URL with credentials', async () => {
    api.routes.set('/customers', (_req, res) => json(res, 200, { data: { rows: CUSTOMERS } }));
    setup({ url: api.url('/customers'), records: 'data.items' });
    const report = await run();
    expect(report.steps[0]).toMatchObject({ status: 'failed', error: { code: 'http_records_missing', allowed: 'data.rows' } });
    expect(report.steps[0]?.message).toBe(`GET ${api.url('/customers')} answered with no array at 'data.items' (found nothing there).`);
    project.write('refinery.config.ts', projectFile({ name: 'apitest', sources: { support: { kind: 'http', url: 'https://me:pa55@api.example.com/v1' } } }));
    const error = await project.open().catch((e: unknown) => e);
    expect((error as RefineryError).issues[0]).toMatchObject({ code: 'config_secret_in_file', value: 'https://***@api.example.com/v1' });
  });

  it('config mistakes name the key, the allowed forms and a likely fix', async () => {
    project = TestProject.fromFiles(engine, {
      'refinery.config.ts': projectFile({ name: 'apitest', sources: { support: { kind: 'http', url: api.url('/x'), pagination: { type: 'pages' } as never, rateLimt: { perSecond: 2 } } as never } }),
    });
    const error = (await project.open().catch((e: unknown) => e)) as RefineryError;
    expect(error.issues[0]).toMatchObject({ path: 'sources.support.pagination.type', message: "sources.support.pagination.type: 'pages' is not a known pagination", allowed: expect.stringContaining("{ type: 'link' }") });
    expect(error.issues[1]).toMatchObject({ path: 'sources.support.rateLimt', hint: "Did you mean 'rateLimit'?" });
  });

  it('an empty full extract is still a batch: silver empties, as for a full database extract', async () => {
    let empty = false;
    api.routes.set('/customers', (_req, res) => json(res, 200, empty ? [] : CUSTOMERS.slice(0, 2)));
    setup({ url: api.url('/customers') }, { silver: { support: { columns: { id: { type: 'integer' } }, key: 'id' } } });
    await run();
    expect(await project.rows(`SELECT count(*) AS n FROM silver.support`)).toEqual([{ n: 2 }]);
    empty = true;
    const second = await run();
    expect(second.steps[0]).toMatchObject({ status: 'skipped', message: 'full extract: 0 records (1 page)' });
    expect(await project.rows(`SELECT batch_id, rows, load_kind FROM refinery.batches ORDER BY batch_id`)).toEqual([
      { batch_id: 1, rows: 2, load_kind: 'full' },
      { batch_id: 2, rows: 0, load_kind: 'full' },
    ]);
    expect(await project.rows(`SELECT count(*) AS n FROM silver.support`)).toEqual([{ n: 0 }]);
  });

  it('a missing token variable is a config error naming it', async () => {
    setup({ url: api.url('/customers'), auth: { valueEnv: 'REFINERY_TEST_UNSET_TOKEN' } });
    const report = await run();
    expect(report.steps[0]).toMatchObject({ status: 'failed', error: { code: 'connection_env_missing', path: 'sources.support.auth.valueEnv' } });
    expect(api.requests).toHaveLength(0);
  });
});

describe('Link header parsing', () => {
  it('finds rel="next" among several links and relation types', () => {
    expect(nextLink('<https://a/x?page=3>; rel="last", <https://a/x?page=2>; rel="next"')).toBe('https://a/x?page=2');
    expect(nextLink('</x?page=2>; title="p2"; rel=next')).toBe('/x?page=2');
    expect(nextLink('<https://a/x?page=1>; rel="prev first"')).toBeUndefined();
    expect(nextLink(null)).toBeUndefined();
  });
});
