import { createServer, type IncomingMessage, type Server } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { listRuns, listSteps } from '../state/run-queries.js';
import { explainLive, explainRecorded } from './explain-step.js';
import type { Service } from './service.js';

/**
 * The service's JSON API — runs, steps, graph, live status, `why`, and a trigger — kept as a plain function from
 * request to response so tests drive it in-process (as hono does with `app.request()`); `listen` adapts it to
 * node:http. The web UI will use the same API.
 */
export interface ApiRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body?: unknown;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

export interface ApiOptions {
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  readonly token?: string;
}

export function createApi(service: Service, options: ApiOptions = {}): (request: ApiRequest) => Promise<ApiResponse> {
  return async (request) => {
    const url = new URL(request.url, 'http://refinery.local');
    if (options.token && !authorized(request.headers.authorization, options.token)) {
      return { status: 401, body: { error: { code: 'unauthorized', message: 'This API needs `Authorization: Bearer <token>` (the token is in the environment variable the project names under serve.tokenEnv).' } } };
    }
    const { plan, warehouse } = service;
    const route = `${request.method.toUpperCase()} ${url.pathname.replace(/\/+$/, '')}`;
    try {
      if (route === 'GET /api/health') return { status: 200, body: { ok: true, project: plan.name, pid: process.pid } };
      if (route === 'GET /api/status') return { status: 200, body: service.status() };
      if (route === 'GET /api/graph') {
        const { rows } = await warehouse.query(`SELECT step, status FROM refinery.steps WHERE run_id = (SELECT max(run_id) FROM refinery.runs)`);
        const statuses = new Map(rows.map((r) => [String(r.step), String(r.status)]));
        const live = service.status().running?.live ?? {};
        return {
          status: 200,
          body: {
            steps: plan.steps.map((s) => ({ name: s.name, layer: s.kind, dependsOn: s.dependsOn, pool: s.pool ?? null, trigger: s.trigger, tags: s.tags, lastStatus: statuses.get(s.name) ?? null, live: live[s.name] ?? null })),
            edges: plan.steps.flatMap((s) => s.dependsOn.map((d) => ({ from: d, to: s.name }))),
          },
        };
      }
      if (route === 'GET /api/runs') {
        const limit = Math.min(1000, Math.max(1, Number(url.searchParams.get('limit') ?? 20) || 20));
        return { status: 200, body: await listRuns(warehouse, limit) };
      }
      const runMatch = /^GET \/api\/runs\/(\d+)$/.exec(route);
      if (runMatch) {
        const id = Number(runMatch[1]);
        const run = (await listRuns(warehouse, 1_000_000)).find((r) => r.runId === id);
        if (!run) return { status: 404, body: { error: { code: 'unknown_run', message: `There is no run ${id}.` } } };
        const { rows: attempts } = await warehouse.query(`SELECT step, attempt, status, error, next_attempt_at FROM refinery.attempts WHERE run_id = $1 ORDER BY step, attempt`, [id]);
        return { status: 200, body: { ...run, steps: await listSteps(warehouse, [id]), failedAttempts: attempts } };
      }
      const whyMatch = /^GET \/api\/why\/(.+)$/.exec(route);
      if (whyMatch) {
        const step = decodeURIComponent(whyMatch[1] as string);
        if (!plan.steps.some((s) => s.name === step)) return { status: 404, body: { error: { code: 'unknown_step', message: `There is no step '${step}'.` } } };
        const live = service.status().running?.live[step];
        const explanation = live ? explainLive(step, live, service.clock.now(), plan.concurrency) : await explainRecorded(warehouse, plan, step);
        return { status: 200, body: explanation };
      }
      if (route === 'POST /api/runs') {
        const body = (request.body ?? {}) as { select?: unknown; fullRefresh?: unknown };
        const select = Array.isArray(body.select) ? body.select.map(String) : typeof body.select === 'string' ? [body.select] : undefined;
        const outcome = service.requestRun({ trigger: 'api', ...(select ? { select } : {}), fullRefresh: body.fullRefresh === true, overlap: plan.triggers.overlap });
        return { status: outcome.accepted ? 202 : 409, body: outcome };
      }
      return { status: 404, body: { error: { code: 'not_found', message: `No route ${route}.`, allowed: 'GET /api/health, /api/status, /api/graph, /api/runs, /api/runs/:id, /api/why/:step; POST /api/runs' } } };
    } catch (error) {
      return { status: 500, body: { error: { code: 'internal_error', message: error instanceof Error ? error.message : String(error) } } };
    }
  };
}

function authorized(header: string | undefined, token: string): boolean {
  const presented = /^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '';
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export async function listen(handler: (request: ApiRequest) => Promise<ApiResponse>, host: string, port: number): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    void readBody(req).then(async (body) => {
      let response: ApiResponse;
      if (body === INVALID) response = { status: 400, body: { error: { code: 'invalid_json', message: 'The request body is not JSON.' } } };
      else response = await handler({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers as Record<string, string | undefined>, body });
      res.writeHead(response.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(response.body));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}` };
}

const INVALID = Symbol('invalid');

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return INVALID;
  }
}
